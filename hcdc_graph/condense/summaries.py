r"""Neighbourhood summaries: a few unlabelled nodes per kept node that make
the first layer of a polynomial filter exact on a tiny graph.

A node kept by a condensation loses its neighbourhood: under ChebNet's
Laplacian an isolated node has :math:`\mathbf{L} = \mathbf{I}`, so every
filter acts on it through :math:`h(1)` alone, and the filters' ranking on
such a graph is a data-free proxy. Here every kept node :math:`v` gets a
path :math:`v - a_1 - \dots - a_K` of :math:`K` summary nodes (edge
weights 1) whose features are solved so that

.. math::
    (\hat{\mathbf{A}}_S^k \mathbf{X}_S)_v = (\hat{\mathbf{A}}^k
    \mathbf{X})_v, \qquad k = 1, \dots, K,

where :math:`\hat{\mathbf{A}}` is the normalized adjacency of the filter's
operator on the original graph and :math:`\hat{\mathbf{A}}_S` the same on
the path. Then :math:`(\mathbf{L}_S^k \mathbf{X}_S \mathbf{W})_v =
(\mathbf{L}^k \mathbf{X} \mathbf{W})_v` for every :math:`\mathbf{W}` and
:math:`k \le K`: PolyGNN's first-layer pre-activation at :math:`v` is the
original graph's for every :math:`\lambda`. (The second layer mixes hidden
features of the summary nodes, which only approximate the neighbours'.)
On the path only :math:`a_1, \dots, a_k` are within :math:`k` hops of
:math:`v`, so the system is triangular and solved level by level.
"""
from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data


def path_operator(K: int, self_loops: bool) -> Tensor:
    r"""The dense normalized adjacency :math:`\hat{\mathbf{A}}_S` of the path
    :math:`v - a_1 - \dots - a_K` (node 0 is :math:`v`) under the filter's
    operator (see :class:`~hcdc_graph.nn.PolyLaplacianConv`)."""
    from hcdc_graph.nn import PolyLaplacianConv
    n = K + 1
    chain = torch.arange(K)
    edge_index = torch.cat([torch.stack([chain, chain + 1]),
                            torch.stack([chain + 1, chain])], dim=1)
    conv = PolyLaplacianConv(1, 1, K, self_loops=self_loops)
    index, weight = conv.normalize(torch.zeros(n, 1), edge_index)
    out = torch.zeros(n, n, dtype=torch.float64)
    out[index[1], index[0]] = weight.double()  # row i: the edges into i
    return out


def propagated_features(data: Data, nodes: Tensor, K: int,
                        self_loops: bool) -> Tensor:
    r""":math:`(\hat{\mathbf{A}}^k \mathbf{X})` at ``nodes`` for
    :math:`k = 1, \dots, K` on ``data``, shape ``(K, len(nodes), F)``
    (one sparse product per power over the whole graph)."""
    from hcdc_graph.nn import PolyLaplacianConv
    conv = PolyLaplacianConv(1, 1, K, self_loops=self_loops)
    x = data.x.double()
    index, weight = conv.normalize(x, data.edge_index,
                                   getattr(data, 'edge_weight', None))
    adj = torch.sparse_coo_tensor(index.flip(0), weight.double(),
                                  (data.num_nodes, data.num_nodes))
    out, h = [], x
    for _ in range(K):
        h = torch.sparse.mm(adj, h)
        out.append(h[nodes])
    return torch.stack(out)


def summary_features(x: Tensor, targets: Tensor, operator: Tensor) -> Tensor:
    r"""Features of the summary nodes :math:`a_1, \dots, a_K` of nodes with
    features ``x`` ``(n, F)`` and targets :math:`(\hat{\mathbf{A}}^k
    \mathbf{X})_v` ``(K, n, F)`` on the path whose normalized adjacency is
    ``operator`` (:func:`path_operator`): shape ``(K, n, F)``. Linear in
    ``x`` and ``targets``, hence differentiable in both."""
    K = targets.size(0)
    powers = [torch.linalg.matrix_power(operator, k)[0]
              for k in range(1, K + 1)]
    levels = [x.to(targets.dtype)]
    for k in range(1, K + 1):
        row = powers[k - 1].to(targets.dtype)
        reached = sum(row[j] * levels[j] for j in range(k))
        levels.append((targets[k - 1] - reached) / row[k])
    return torch.stack(levels[1:])


def with_summaries(x: Tensor, targets: Tensor, operator: Tensor) -> Tensor:
    """``x`` followed by its nodes' summaries (:func:`summary_features`),
    level by level: shape ``((K + 1) n, F)``, in ``targets``' dtype."""
    return torch.cat([x.to(targets.dtype),
                      *summary_features(x, targets, operator)])


def kept_mask(num_nodes: int, K: int) -> Tensor:
    """True at the ``num_nodes`` kept nodes of a summarized graph (they come
    first), False at their ``K * num_nodes`` summaries."""
    mask = torch.zeros((K + 1) * num_nodes, dtype=torch.bool)
    mask[:num_nodes] = True
    return mask


def summary_edges(num_nodes: int, K: int) -> Tensor:
    """The paths' edges (both directions) when the ``num_nodes`` kept nodes
    come first and level ``k`` summary of node ``i`` is node ``k *
    num_nodes + i``."""
    node = torch.arange(num_nodes)
    pairs = [(k * num_nodes + node, (k + 1) * num_nodes + node)
             for k in range(K)]
    return torch.cat([torch.stack([a, b]) for a, b in pairs] +
                     [torch.stack([b, a]) for a, b in pairs], dim=1)


def summarized_graph(data: Data, nodes: Tensor, K: int, self_loops: bool,
                     masks: Sequence[str] = ('train_mask', 'val_mask')
                     ) -> Data:
    r"""``nodes`` of ``data``, each with its own path of ``K`` summary nodes
    and no other edge, so that the first layer of any degree-``K`` filter
    under the operator ``self_loops`` is exact at every kept node (module
    docstring). Kept nodes come first, then level 1 summaries, and so on;
    summary nodes carry their node's label and are in no mask. Each of
    ``masks`` is ``data``'s mask at ``nodes``."""
    x = with_summaries(data.x[nodes].double(),
                       propagated_features(data, nodes, K, self_loops),
                       path_operator(K, self_loops))
    n = nodes.numel()
    edge_index = summary_edges(n, K)
    out = Data(x=x.to(data.x.dtype),
               y=data.y[nodes].repeat(K + 1),
               edge_index=edge_index,
               edge_weight=torch.ones(edge_index.size(1)))
    for name in masks:
        out[name] = torch.cat([data[name][nodes],
                               torch.zeros(K * n, dtype=torch.bool)])
    return out
