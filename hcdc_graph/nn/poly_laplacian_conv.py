"""The polynomial-Laplacian graph convolution whose coefficients are hyperparameters."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import (is_torch_sparse_tensor, remove_self_loops,
                                   to_edge_index, to_torch_csr_tensor)

from hcdc_graph.sparse import constant_matmul, constant_operand


def default_coeffs(K: int) -> Tensor:
    r"""The GCN filter :math:`\lambda = (1, -1, 0, \dots, 0)`, i.e.
    :math:`I - \tilde{L} = \tilde{D}^{-1/2}\tilde{A}\tilde{D}^{-1/2}`."""
    coeffs = torch.zeros(K + 1)
    coeffs[0], coeffs[1] = 1.0, -1.0
    return coeffs


class PolyLaplacianConv(MessagePassing):
    r"""A graph convolution with a polynomial filter of the normalized
    Laplacian, whose coefficients are *hyperparameters*:

    .. math::
        \mathbf{X}^{\prime} = C(\lambda)\, \mathbf{X} \mathbf{W} + \mathbf{b},
        \qquad C(\lambda) = \sum_{k=0}^{K} \lambda_k \tilde{\mathbf{L}}^k,

    where :math:`\tilde{\mathbf{L}} = \mathbf{I} - \tilde{\mathbf{D}}^{-1/2}
    \tilde{\mathbf{A}} \tilde{\mathbf{D}}^{-1/2}` is the symmetric normalized
    Laplacian of the graph with self-loops :math:`\tilde{\mathbf{A}} =
    \mathbf{A} + \mathbf{I}` (edge weights in :math:`\mathbf{A}` are used
    when given). :math:`\lambda = (1, -1)` is GCN's propagation.

    With ``self_loops=False`` the operator is ChebNet's (Defferrard et al.,
    2016) Laplacian instead, :math:`\mathbf{L} = \mathbf{I} -
    \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}` of the graph without
    self-loops (any in :math:`\mathbf{A}` are dropped), i.e. PyG's
    :func:`~torch_geometric.utils.get_laplacian` with
    ``normalization='sym'``. The two differ most where edges are few: at an
    isolated node :math:`\tilde{\mathbf{L}}` is zero, so the filter acts as
    :math:`h(0) = \lambda_0`, while :math:`\mathbf{L}` is the identity and
    the filter acts as :math:`h(1) = \sum_k \lambda_k`. Degrees are
    in-degrees (PyG's :func:`gcn_norm` convention; ``get_laplacian`` sums
    over the source index), which is the same thing on undirected graphs.

    The coefficients :math:`\lambda` are not parameters: they never appear in
    :meth:`parameters`. They are passed to :meth:`forward` as ``coeffs``
    (possibly requiring grad, so that hypergradients, mixed
    :math:`\theta`-:math:`\lambda` second derivatives and Hessian-vector
    products all flow), or default to the layer's ``coeffs`` buffer.

    :math:`\tilde{\mathbf{L}}^k \mathbf{X}\mathbf{W}` is computed by repeated
    propagation, :math:`\tilde{\mathbf{L}}\mathbf{H} = \mathbf{H} -
    \tilde{\mathbf{D}}^{-1/2}\tilde{\mathbf{A}}\tilde{\mathbf{D}}^{-1/2}
    \mathbf{H}`, so no power of the Laplacian is ever materialized.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of each output sample.
        K (int, optional): Degree of the polynomial. (default: :obj:`2`)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)
        cached (bool, optional): Cache the normalized adjacency on first call
            (transductive use only: the graph must not change).
            (default: :obj:`False`)
        coeffs (Sequence[float], optional): Initial value of the ``coeffs``
            buffer. (default: the GCN filter :math:`(1, -1, 0, \dots)`)
        self_loops (bool, optional): Use the Laplacian of :math:`\mathbf{A}
            + \mathbf{I}` (:obj:`True`) or ChebNet's Laplacian of
            :math:`\mathbf{A}` without self-loops (:obj:`False`).
            (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, the graph
          as ``edge_index`` :math:`(2, |\mathcal{E}|)` with optional
          ``edge_weight`` :math:`(|\mathcal{E}|)`, or as a
          :obj:`torch.sparse_csr` adjacency :math:`(|\mathcal{V}|,
          |\mathcal{V}|)` whose values are the edge weights (read as the
          transposed adjacency, PyG's ``adj_t`` convention); ``coeffs``
          :math:`(K + 1)`.
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """
    coeffs: Tensor
    _cached: Optional[Tuple[Adj, OptTensor, OptTensor]]

    def __init__(self, in_channels: int, out_channels: int, K: int = 2,
                 bias: bool = True, cached: bool = False,
                 coeffs: Optional[Sequence[float]] = None,
                 self_loops: bool = True, **kwargs):
        kwargs.setdefault('aggr', 'add')
        super().__init__(**kwargs)
        if K < 1:
            raise ValueError(f"'K' must be at least 1 (got {K})")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.K = K
        self.cached = cached
        self.self_loops = self_loops
        self.lin = Linear(in_channels, out_channels, bias=False,
                          weight_initializer='glorot')
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        init = default_coeffs(K) if coeffs is None else torch.as_tensor(
            coeffs, dtype=torch.float)
        self.register_buffer('coeffs', check_coeffs(init, K).clone())
        self._cached = None
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        self.lin.reset_parameters()
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
        self._cached = None

    def normalize(self, x: Tensor, edge_index: Adj,
                  edge_weight: OptTensor = None) -> Tuple[Adj, OptTensor]:
        r"""Returns :math:`\tilde{\mathbf{D}}^{-1/2}\tilde{\mathbf{A}}
        \tilde{\mathbf{D}}^{-1/2}` (with ``self_loops=False``:
        :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`, self-loops
        dropped) in the layout it was given (cached when ``cached=True``)."""
        return self._operator(x, edge_index, edge_weight)[:2]

    def _operator(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor
                  ) -> Tuple[Adj, OptTensor, OptTensor]:
        # (normalized adjacency, its edge weights, and for a constant CSR
        # adjacency its `constant_operand`, else None)
        if self._cached is not None:
            return self._cached
        if is_torch_sparse_tensor(edge_index):
            if edge_index.layout != torch.sparse_csr:
                raise ValueError(
                    "A sparse adjacency must use the torch.sparse_csr layout "
                    f"(got {edge_index.layout})")
            if edge_weight is not None:
                raise ValueError("Pass edge weights as the values of the "
                                 "CSR adjacency, not as 'edge_weight'")
        if not self.self_loops:
            edge_index, edge_weight = _without_self_loops(edge_index,
                                                          edge_weight)
        adj, weight = gcn_norm(edge_index, edge_weight,
                               x.size(self.node_dim),
                               add_self_loops=self.self_loops,
                               flow=self.flow, dtype=x.dtype)
        operand = constant_operand(adj) if is_torch_sparse_tensor(adj) and \
            not adj.requires_grad else None
        out = (adj, weight, operand)
        if self.cached:
            self._cached = out
        return out

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None,
                coeffs: OptTensor = None) -> Tensor:
        coeffs = self.coeffs if coeffs is None else check_coeffs(coeffs,
                                                                  self.K)
        adj, norm_weight, operand = self._operator(x, edge_index,
                                                   edge_weight)
        h = self.lin(x)
        out = coeffs[0] * h
        for k in range(1, self.K + 1):
            # L̃ h = h − Â h
            if operand is not None:
                h = h - constant_matmul(adj, operand, h)
            else:
                h = h - self.propagate(adj, x=h, edge_weight=norm_weight)
            out = out + coeffs[k] * h
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor) -> Tensor:
        # A plain `@` rather than PyG's `spmm(..., reduce='sum')`: the reduce
        # kernel has no double backward, and Hessian-vector products need it.
        return adj_t @ x

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.out_channels}, K={self.K}, '
                f'self_loops={self.self_loops})')


def _without_self_loops(edge_index: Adj, edge_weight: OptTensor
                        ) -> Tuple[Adj, OptTensor]:
    """The graph with its self-loops dropped, in the layout it was given."""
    if not is_torch_sparse_tensor(edge_index):
        return remove_self_loops(edge_index, edge_weight)
    index, value = to_edge_index(edge_index)
    keep = index[0] != index[1]
    if bool(keep.all()):
        return edge_index, None
    return to_torch_csr_tensor(index[:, keep], value[keep],
                               size=edge_index.size()), None


def check_coeffs(coeffs: Tensor, K: int) -> Tensor:
    """Checks that ``coeffs`` holds ``K + 1`` finite filter coefficients."""
    if not isinstance(coeffs, Tensor):
        coeffs = torch.as_tensor(coeffs, dtype=torch.float)
    if coeffs.dim() != 1 or coeffs.numel() != K + 1:
        raise ValueError(f"Expected {K + 1} filter coefficients for K={K} "
                         f"(got shape {tuple(coeffs.shape)})")
    if not torch.isfinite(coeffs).all():
        raise ValueError(f"Filter coefficients must be finite (got "
                         f"{coeffs.tolist()})")
    return coeffs
