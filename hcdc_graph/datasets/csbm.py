"""Contextual stochastic block model: synthetic graphs with a homophily knob."""
import math

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected


def csbm(num_nodes: int = 1000, num_classes: int = 2, avg_degree: float = 5.0,
         homophily: float = 0.8, feature_dim: int = 32,
         feature_noise: float = 1.0, seed: int = 0,
         train_ratio: float = 0.1, val_ratio: float = 0.1) -> Data:
    r"""Generates a contextual stochastic block model graph.

    Labels are uniform over ``num_classes``. Each class :math:`c` has a mean
    :math:`\mu_c \in \mathbb{R}^d` drawn from :math:`\mathcal{N}(0, I/d)`
    and rescaled to unit norm; node features are
    :math:`x_i = \mu_{y_i} + \sigma\,\varepsilon_i` with
    :math:`\varepsilon_i \sim \mathcal{N}(0, I/d)` and
    :math:`\sigma` = ``feature_noise``. About
    ``num_nodes * avg_degree / 2`` undirected edges are drawn: each picks a
    uniform source and, with probability ``homophily``, a target of the same
    class, otherwise a target of another class. Self-loops and duplicates are
    dropped, so the realised degree is slightly below ``avg_degree``.

    ``homophily`` near 1 favours low-pass filters (GCN-like). With two
    classes and average degree :math:`d`, at ``homophily`` about
    :math:`(1 - 1/d) / 2` GCN's averaging cancels a node's own class signal
    while high-pass filters (:math:`\tilde{L}`) keep it: the generator makes
    both kinds of graph.

    Masks: a random ``train_ratio`` / ``val_ratio`` / rest split into
    ``train_mask``, ``val_mask`` and ``test_mask``. Deterministic per
    ``seed``; generation is vectorised and linear in the number of edges.
    """
    if num_nodes < 2 * num_classes:
        raise ValueError(f"'num_nodes' ({num_nodes}) must be at least twice "
                         f"'num_classes' ({num_classes})")
    if num_classes < 2:
        raise ValueError(f"'num_classes' must be at least 2 (got "
                         f"{num_classes})")
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"'homophily' must be in [0, 1] (got {homophily})")
    if not 0 < avg_degree <= num_nodes - 1 or feature_dim < 1 or \
            not 0 <= feature_noise < math.inf:
        raise ValueError(f"'avg_degree' must be in (0, num_nodes - 1 = "
                         f"{num_nodes - 1}], 'feature_dim' positive and "
                         f"'feature_noise' finite and non-negative (got "
                         f"{avg_degree}, {feature_dim}, {feature_noise})")
    if train_ratio <= 0 or val_ratio <= 0 or train_ratio + val_ratio >= 1:
        raise ValueError("'train_ratio' and 'val_ratio' must be positive and "
                         "sum to less than 1")

    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(num_classes, (num_nodes, ), generator=gen)
    # Guarantee that every class occurs.
    y[:num_classes] = torch.arange(num_classes)
    y = y[torch.randperm(num_nodes, generator=gen)]

    means = torch.randn(num_classes, feature_dim, generator=gen)
    means = means / means.norm(dim=1, keepdim=True)
    noise = torch.randn(num_nodes, feature_dim, generator=gen)
    x = means[y] + feature_noise * noise / math.sqrt(feature_dim)

    # Nodes grouped by class, so a "random node of class c" is one index.
    order = torch.argsort(y)
    counts = torch.bincount(y, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts

    num_edges = max(1, int(round(num_nodes * avg_degree / 2)))
    src = torch.randint(num_nodes, (num_edges, ), generator=gen)
    same = torch.rand(num_edges, generator=gen) < homophily
    shift = torch.randint(1, num_classes, (num_edges, ), generator=gen)
    target_class = torch.where(same, y[src], (y[src] + shift) % num_classes)
    offset = (torch.rand(num_edges, generator=gen) *
              counts[target_class]).long()
    dst = order[starts[target_class] + offset]

    edge_index, _ = remove_self_loops(torch.stack([src, dst]))
    edge_index = coalesce(to_undirected(edge_index, num_nodes=num_nodes),
                          num_nodes=num_nodes)

    perm = torch.randperm(num_nodes, generator=gen)
    num_train = max(num_classes, int(train_ratio * num_nodes))
    num_val = max(num_classes, int(val_ratio * num_nodes))
    masks = []
    for lo, hi in ((0, num_train), (num_train, num_train + num_val),
                   (num_train + num_val, num_nodes)):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[perm[lo:hi]] = True
        masks.append(mask)

    return Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0],
                val_mask=masks[1], test_mask=masks[2], name='csbm',
                homophily=homophily)
