"""One validator for the graphs every entry point takes: a malformed
:class:`~torch_geometric.data.Data` (from a file or a user) is a
``ValueError`` naming the field, before any work starts and before an
out-of-range index can reach native code."""
from typing import Sequence

import torch
from torch import Tensor

_INTEGER = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def require_masks(data, *names: str) -> None:
    """Raises a clear error when ``data`` lacks one of the boolean node masks
    ``names`` (e.g. ``'train_mask'``) or when one of them is empty."""
    for name in names:
        mask = getattr(data, name, None)
        if mask is None:
            raise ValueError(f"The graph has no '{name}': a node mask is "
                             f"needed here (set data.{name} = a boolean "
                             f"tensor of length num_nodes)")
        _check_mask_shape(data, name, data.num_nodes)
        if not bool(mask.any()):
            raise ValueError(f"data.{name} selects no node")


def require_finite_features(data) -> None:
    """Raises a clear error when ``data.x`` holds NaN or infinite values."""
    if not torch.isfinite(data.x).all():
        raise ValueError("The node features contain NaN or infinite values")


def check_graph(data, masks: Sequence[str] = ('train_mask', 'val_mask')
                ) -> None:
    """Checks a node-classification graph and raises a ``ValueError``
    naming the first field that is wrong:

    - ``x``: a 2-D floating-point tensor with at least one row, finite;
    - ``y``: an integer tensor of one label per node, none negative;
    - ``edge_index``: an integer ``(2, E)`` tensor with entries in
      ``[0, num_nodes)`` (or a square ``torch.sparse_csr`` adjacency);
    - ``edge_weight``: absent, or ``E`` finite non-negative floats;
    - the ``masks`` (default: training and validation): boolean, one entry
      per node, non-empty, and the training and validation masks disjoint;
      a ``test_mask``, when present, boolean of the same length.
    """
    x = getattr(data, 'x', None)
    if not isinstance(x, Tensor) or x.dim() != 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"data.x must be a 2-D tensor of node features, one "
                         f"row per node (got {got})")
    if x.size(0) == 0:
        raise ValueError("The graph is empty: data.x has no rows")
    if not x.is_floating_point():
        raise ValueError(f"data.x must be floating point (got {x.dtype}); "
                         f"convert it with data.x = data.x.float()")
    require_finite_features(data)
    n = x.size(0)
    y = getattr(data, 'y', None)
    if not isinstance(y, Tensor) or y.dtype not in _INTEGER:
        raise ValueError("data.y must be an integer tensor of class labels "
                         f"(got {getattr(y, 'dtype', type(y).__name__)})")
    if y.dim() != 1 or y.numel() != n:
        raise ValueError(f"data.y must hold one label per node: shape "
                         f"({n},) (got {tuple(y.shape)})")
    if bool((y < 0).any()):
        raise ValueError("data.y has negative labels; labels are 0 .. C-1")
    _check_edges(data, n)
    adj_t = getattr(data, 'adj_t', None)
    if adj_t is not None and (not isinstance(adj_t, Tensor) or
                              adj_t.layout != torch.sparse_csr or
                              tuple(adj_t.shape) != (n, n)):
        raise ValueError(f"data.adj_t must be a {n} x {n} torch.sparse_csr "
                         f"adjacency")
    for name in ('train_mask', 'val_mask', 'test_mask'):
        if name in masks:
            require_masks(data, name)
        elif getattr(data, name, None) is not None:
            _check_mask_shape(data, name, n)
    if 'train_mask' in masks and 'val_mask' in masks:
        shared = int((data.train_mask & data.val_mask).sum())
        if shared:
            raise ValueError(f"data.train_mask and data.val_mask share "
                             f"{shared} nodes; they must be disjoint")


def _check_mask_shape(data, name: str, n: int) -> None:
    mask = getattr(data, name)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or \
            mask.dim() != 1 or mask.numel() != n:
        raise ValueError(f"data.{name} must be a boolean tensor of length "
                         f"num_nodes={n}")


def _check_edges(data, n: int) -> None:
    edge_index = getattr(data, 'edge_index', None)
    if isinstance(edge_index, Tensor) and edge_index.layout == \
            torch.sparse_csr:
        if tuple(edge_index.shape) != (n, n):
            raise ValueError(f"The CSR adjacency must be {n} x {n} (got "
                             f"{tuple(edge_index.shape)})")
        weight, count = edge_index.values(), None
    else:
        if not isinstance(edge_index, Tensor) or \
                edge_index.dtype not in _INTEGER:
            raise ValueError("data.edge_index must be an integer tensor of "
                             "shape (2, E)")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"data.edge_index must have shape (2, E) (got "
                             f"{tuple(edge_index.shape)}; transpose an "
                             f"(E, 2) tensor with .t())")
        if edge_index.numel() and (int(edge_index.min()) < 0 or
                                   int(edge_index.max()) >= n):
            raise ValueError(f"data.edge_index has node indices outside "
                             f"[0, {n}) (min {int(edge_index.min())}, max "
                             f"{int(edge_index.max())})")
        weight, count = getattr(data, 'edge_weight', None), \
            edge_index.size(1)
    if weight is None:
        return
    if not isinstance(weight, Tensor) or not weight.is_floating_point() or \
            (count is not None and tuple(weight.shape) != (count, )):
        raise ValueError(f"data.edge_weight must be a float tensor of one "
                         f"weight per edge ({count})")
    if not bool(torch.isfinite(weight).all()) or bool((weight < 0).any()):
        raise ValueError("data.edge_weight must be finite and non-negative")
