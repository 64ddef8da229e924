"""CSR adjacency helpers: the one sparse layout used for large graphs.

``torch.sparse.mm`` on a CSR matrix transposes the matrix again in every
backward pass (on a 170K-node, 2.4M-entry graph: 0.14 s forward, 0.38 s
backward). :func:`csr_matmul` takes the transpose once, as an argument, and
stays differentiable to any order in the dense operand, so Hessian-vector
products (double backward) work too. A constant adjacency that is mostly
nonzero is multiplied as a dense matrix instead (:func:`constant_operand`).
"""
import copy
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_torch_csr_tensor


def csr_adjacency(edge_index: Tensor, edge_weight: Optional[Tensor],
                  num_nodes: int) -> Tensor:
    r"""The transposed adjacency :math:`\mathbf{A}^\top` (PyG's ``adj_t``:
    row ``i`` holds the edges *into* node ``i``) as a
    :obj:`torch.sparse_csr` tensor whose values are the edge weights (ones
    when :obj:`None`)."""
    return to_torch_csr_tensor(edge_index.flip(0), edge_weight,
                               size=(num_nodes, num_nodes))


def transpose_csr(adj: Tensor) -> Tensor:
    """The transpose of a CSR matrix, as CSR; ``adj`` itself (no copy kept)
    when it is exactly symmetric, as the normalized adjacency of an
    undirected graph is."""
    out = adj.detach().t().to_sparse_csr()
    if torch.equal(out.crow_indices(), adj.crow_indices()) and \
            torch.equal(out.col_indices(), adj.col_indices()) and \
            torch.equal(out.values(), adj.detach().values()):
        return adj
    return out


class _CSRMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
        ctx.adj, ctx.adj_t = adj, adj_t
        return adj @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        # Differentiable in `grad`: double backward goes through it again.
        return None, None, _CSRMatmul.apply(ctx.adj_t, ctx.adj, grad)


# Above this share of nonzero entries a constant adjacency is multiplied as a
# dense matrix: GCond keeps nearly every pair (CiteSeer 5.2 %: 798K of 799K).
DENSE_FRACTION = 0.1


def constant_operand(adj: Tensor) -> Tensor:
    """What :func:`constant_matmul` multiplies by for a constant CSR
    ``adj``: its CSR transpose (:func:`transpose_csr`), or ``adj`` as a
    dense matrix when at least :data:`DENSE_FRACTION` of its entries are
    nonzero (the same product at float rounding; on 894 nodes with 798K
    edges and 64 columns, 1.1 ms instead of 6.8 ms on one thread)."""
    if adj._nnz() >= DENSE_FRACTION * adj.size(0) * adj.size(1):
        return adj.detach().to_dense()
    return transpose_csr(adj)


def constant_matmul(adj: Tensor, operand: Tensor, x: Tensor) -> Tensor:
    """:math:`\mathbf{A}\mathbf{X}` with ``operand`` from
    :func:`constant_operand`, differentiable in :math:`\mathbf{X}` to any
    order."""
    if operand.layout == torch.strided:
        return operand @ x
    return csr_matmul(adj, operand, x)


def csr_matmul(adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
    r""":math:`\mathbf{A}\mathbf{X}` for a constant CSR matrix
    :math:`\mathbf{A}` given together with its transpose ``adj_t`` (from
    :func:`transpose_csr`), differentiable in :math:`\mathbf{X}` to any
    order. ``adj`` must not require grad (use ``adj @ x`` for learned
    sparse values)."""
    if adj.requires_grad:
        raise ValueError("csr_matmul() takes a constant adjacency; its "
                         "values require grad")
    return _CSRMatmul.apply(adj, adj_t, x)


def with_csr_adjacency(data: Data) -> Data:
    """A shallow copy of ``data`` with the CSR :func:`csr_adjacency` as
    ``adj_t`` (PyG's convention: row ``i`` holds the edges into node ``i``,
    values the edge weights); ``edge_index`` and ``edge_weight`` are kept.
    Models built on :class:`~hcdc_graph.nn.PolyLaplacianConv` take either
    (:func:`graph_inputs` picks ``adj_t`` when there is one). The other
    attributes are shared with ``data``, not copied (the features of a
    large graph are big). ``data`` itself when it already has ``adj_t``."""
    if getattr(data, 'adj_t', None) is not None:
        return data
    out = copy.copy(data)
    out.adj_t = csr_adjacency(data.edge_index,
                              getattr(data, 'edge_weight', None),
                              data.num_nodes)
    return out


def graph_inputs(data: Data) -> Tuple[Tensor, Optional[Tensor]]:
    """What a layer is called with: ``(adj_t, None)`` when ``data`` has a
    CSR ``adj_t``, else ``(edge_index, edge_weight)``."""
    adj_t = getattr(data, 'adj_t', None)
    if adj_t is not None:
        return adj_t, None
    return data.edge_index, getattr(data, 'edge_weight', None)
