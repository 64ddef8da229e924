"""The condenser base class: configuration, validation, node budgets and the
emitted :class:`~torch_geometric.data.Data`."""
import time
import warnings
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric import seed_everything
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from hcdc_graph.validation import check_graph
from hcdc_graph.checkpoint import Checkpointed
from hcdc_graph.profiling import peak_rss_mb, reset_peak_rss


def allocate(total: int, weights: Tensor) -> Tensor:
    """Splits ``total`` nodes over classes proportionally to ``weights``
    (largest remainder), giving every class with positive weight at least one
    node even when that exceeds ``total``."""
    weights = weights.double()
    present = weights > 0
    share = weights / weights.sum() * total
    counts = share.floor().long()
    remainder = total - int(counts.sum())
    if remainder > 0:
        order = torch.argsort(share - counts, descending=True)
        counts[order[:remainder]] += 1
    counts[present & (counts == 0)] = 1
    return counts


# ``ratio`` when none is given: the paper's middle ratio on Cora (1.8 %).
DEFAULT_RATIO = 0.018
# Seed offset of the certificate's filters: apart from the evaluation's
# config seeds (0, 1, ...) and HCDC's own offsets.
CERTIFY_SEED_OFFSET = 30_000


class Condenser(Checkpointed):
    r"""Base class of the graph condensers.

    Configuration happens in ``__init__`` (validated at once), the work in
    :meth:`fit`, which returns the condensed graph and keeps it in
    ``condensed_`` (scikit-learn's habits). Results are deterministic under
    ``seed``.

    **Node budget.** ``ratio`` is :math:`c_{train}/n`: synthetic training
    nodes over all nodes of the original graph (the paper's Table 2). The
    condensed graph also has :math:`c_{val}` validation nodes,
    :math:`c_{val} = \mathrm{round}(c_{train} \cdot` ``val_ratio``
    :math:`)`, where ``val_ratio`` defaults to the original
    :math:`|\mathcal{T}_{val}| / |\mathcal{T}_{train}|` (the paper's
    protocol: baselines split their condensed nodes keeping the original
    train/val ratio). Both budgets are split over classes in proportion to
    the class frequencies of the original training (resp. validation) nodes,
    and **every class gets at least one node**, even when the ratio is so
    small that this exceeds :math:`\mathrm{round}(\text{ratio} \cdot n)`
    (a warning says so; :math:`c_{val}` then follows the raised
    :math:`c_{train}`, so a positive ``val_ratio`` never gives an empty
    validation set).

    **Output.** A :class:`~torch_geometric.data.Data` with ``x``, ``y``,
    ``edge_index``, ``edge_weight``, ``train_mask``, ``val_mask`` and
    metadata ``method``, ``ratio``, ``seed``, ``source`` (the dataset name)
    ``condense_seconds`` (wall time of :meth:`fit`) and
    ``condense_peak_rss_mb`` (the process's peak resident memory during
    :meth:`fit`, Linux; elsewhere the peak since the process started).

    Args:
        data (Data): The original graph with ``x``, ``y``, ``edge_index``,
            ``train_mask`` and ``val_mask``.
        ratio (float, optional): :math:`c_{train}/n`, in :math:`(0, 1)`.
            (default: :obj:`0.018`, the paper's middle ratio on Cora; its
            Table 2 uses 0.9 / 1.8 / 3.6 % on Cora, 1.3 / 2.6 / 5.2 % on
            CiteSeer)
        val_ratio (float, optional): :math:`c_{val}/c_{train}`.
        seed (int, optional): Random seed. (default: :obj:`0`)
        device (str or torch.device, optional): Where to compute.
        progress (bool, optional): Show a progress bar. (default: :obj:`True`)
        checkpoint (str, optional): A file where condensers that run for
            minutes (GCond-X, GCond, HCDC) save their state at every epoch
            boundary (atomically), so that ``fit(resume=True)`` continues
            after a crash or ``kill -9`` to the same result as an
            uninterrupted run. Removed once :meth:`fit` finishes.
            (default: :obj:`None`, no checkpoint)
    """
    method: str = 'base'

    def __init__(self, data: Data, ratio: float = DEFAULT_RATIO,
                 val_ratio: Optional[float] = None, seed: int = 0,
                 device=None, progress: bool = True,
                 checkpoint: Optional[str] = None):
        check_graph(data)
        if not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
            raise ValueError(f"'ratio' must be in (0, 1) (got {ratio!r})")
        if val_ratio is not None and not val_ratio >= 0:
            raise ValueError(f"'val_ratio' must be non-negative (got "
                             f"{val_ratio!r})")
        self.data = data
        self.ratio = float(ratio)
        self.val_ratio = val_ratio
        self.seed = seed
        self.device = torch.device(device) if device is not None else \
            torch.device('cpu')
        self.progress = progress
        self.checkpoint = checkpoint

    # -- budgets -----------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return int(self.data.y.max()) + 1

    def budgets(self) -> Tuple[Tensor, Tensor]:
        """Per-class counts of synthetic training and validation nodes."""
        data, c = self.data, self.num_classes
        n_train = int(data.train_mask.sum())
        n_val = int(data.val_mask.sum())
        c_train = int(round(self.ratio * data.num_nodes))
        val_ratio = n_val / n_train if self.val_ratio is None else \
            self.val_ratio
        train = allocate(c_train, torch.bincount(data.y[data.train_mask],
                                                 minlength=c))
        # From the training nodes actually given (raised for tiny ratios).
        c_val = int(round(int(train.sum()) * val_ratio))
        val = allocate(c_val, torch.bincount(data.y[data.val_mask],
                                             minlength=c)) if c_val > 0 \
            else torch.zeros(c, dtype=torch.long)
        if int(train.sum()) > c_train:
            warnings.warn(f"ratio={self.ratio} gives {c_train} training "
                          f"nodes; raised to {int(train.sum())} so that "
                          f"every class has at least one")
        return train, val

    def stratified_split(self, generator: torch.Generator
                         ) -> Tuple[Tensor, Tensor]:
        """Class-stratified random original training and validation nodes,
        :meth:`budgets` of each (drawn in this order from ``generator``)."""
        train, val = self.budgets()
        data = self.data
        return (stratified_nodes(data, data.train_mask, train, generator),
                stratified_nodes(data, data.val_mask, val, generator))

    # -- the work ------------------------------------------------------------
    def fit(self, resume: bool = False) -> Data:
        """Condenses the graph; returns the condensed graph (also kept in
        ``condensed_``). With ``resume=True``, continues from the
        ``checkpoint`` file when there is one (written by an interrupted
        :meth:`fit` of the same configuration on the same graph)."""
        self.start_fit(resume)
        seed_everything(self.seed)
        reset_peak_rss()
        start = time.perf_counter()
        out = self._condense()
        seconds = time.perf_counter() - start
        self.end_fit()
        peak = peak_rss_mb()
        for key in ('x', 'y', 'edge_index', 'edge_weight', 'train_mask',
                    'val_mask'):
            if getattr(out, key, None) is None:
                raise RuntimeError(f"{type(self).__name__} produced no "
                                   f"'{key}'")
        if not torch.isfinite(out.x).all() or \
                not torch.isfinite(out.edge_weight).all():
            raise ArithmeticError(f"{type(self).__name__} produced NaN or "
                                  f"infinite values; lower the learning "
                                  f"rates")
        out.method = self.method
        out.ratio = self.ratio
        out.seed = self.seed
        out.source = str(getattr(self.data, 'name', 'unknown'))
        out.condense_seconds = seconds
        out.condense_peak_rss_mb = peak
        self.condensed_ = out
        return out

    def _condense(self) -> Data:
        raise NotImplementedError

    # -- the rank certificate -------------------------------------------------
    def certify(self, original: Optional[Data] = None, n_configs: int = 8,
                seed: Optional[int] = None, recipe=None) -> Dict:
        """A rank certificate for the condensed graph: ``n_configs`` filters
        it never saw (drawn apart from the evaluation's and HCDC's own
        configs, and checked disjoint from ``configs_`` and
        ``rank_configs_``) trained on ``original`` (default: the graph
        given) and on the condensed graph; Spearman, Kendall, whether both
        put the same filter first, a 95 % bootstrap interval of Spearman,
        its cost in seconds, and what so few filters can tell. Also stored
        in ``condensed_``'s metadata (``certificate_*``), so
        :func:`~hcdc_graph.io.save` keeps it with the graph."""
        from scipy import stats

        from hcdc_graph.evaluation import (Recipe, evaluate_configs,
                                           sample_filter_configs)
        from hcdc_graph.ranking import (null_sd, rank_by_accuracy,
                                        spearman_interval)
        condensed = getattr(self, 'condensed_', None)
        if condensed is None:
            raise ValueError("certify() needs a fitted condenser: call fit() "
                             "first")
        if n_configs < 3:
            raise ValueError(f"'n_configs' must be at least 3 (got "
                             f"{n_configs})")
        original = self.data if original is None else original
        recipe = recipe or Recipe(self_loops=getattr(self, 'self_loops',
                                                     True))
        seen = [getattr(self, name) for name in ('configs_', 'rank_configs_')
                if getattr(self, name, None) is not None and
                getattr(self, name).numel()]
        draw = CERTIFY_SEED_OFFSET + (self.seed if seed is None else seed)
        while True:  # disjoint from every filter the condenser saw
            configs = sample_filter_configs(n_configs, getattr(self, 'K', 2),
                                            draw)
            if not any(torch.cdist(configs, s.float()).min() < 1e-6
                       for s in seen):
                break
            draw += 1
        start = time.perf_counter()
        ranks = [rank_by_accuracy(r['acc'], r['loss']) for r in (
            evaluate_configs(original, configs, recipe),
            evaluate_configs(condensed, configs, recipe))]
        low, high = spearman_interval(*ranks)
        out = {'configs': n_configs, 'config_seed': draw,
               'spearman': float(stats.spearmanr(*ranks)[0]),
               'kendall': float(stats.kendalltau(*ranks)[0]),
               'top1': bool(ranks[0].argmax() == ranks[1].argmax()),
               'low': low, 'high': high,
               'seconds': time.perf_counter() - start,
               'null_sd': null_sd(n_configs)}
        out['note'] = (
            f"{n_configs} held-out filters: a Spearman within about "
            f"{2 * out['null_sd']:.2f} of 0 is what unrelated rankings "
            f"give (null sd {out['null_sd']:.2f}), so this can flag a graph "
            f"that ranks against the original, not prove one ranks well")
        for key, value in out.items():
            condensed[f'certificate_{key}'] = value
        self.certificate_ = out
        return out

    def data_fingerprint(self) -> str:
        from hcdc_graph.evaluation import graph_fingerprint
        return graph_fingerprint(self.data)

    def labels_and_masks(self, generator: torch.Generator
                         ) -> Tuple[Tensor, Tensor, Tensor]:
        """Class-proportional labels for the synthetic nodes and a random,
        class-stratified train/val split of them."""
        train, val = self.budgets()
        classes = torch.arange(self.num_classes)
        y = torch.cat([classes.repeat_interleave(train),
                       classes.repeat_interleave(val)])
        is_train = torch.cat([torch.ones(int(train.sum()), dtype=torch.bool),
                              torch.zeros(int(val.sum()), dtype=torch.bool)])
        perm = torch.randperm(y.numel(), generator=generator)
        return y[perm], is_train[perm], ~is_train[perm]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ratio={self.ratio}, '
                f'val_ratio={self.val_ratio}, seed={self.seed})')


def stratified_nodes(data: Data, mask: Tensor, budget: Tensor,
                     generator: torch.Generator) -> Tensor:
    """For every class ``c``, ``budget[c]`` distinct random nodes of class
    ``c`` among ``mask`` (all of them when the class has fewer), class by
    class."""
    picked = []
    for c, k in enumerate(budget.tolist()):
        pool = torch.where(mask & (data.y == c))[0]
        picked.append(pool[torch.randperm(pool.numel(),
                                          generator=generator)[:k]])
    return torch.cat(picked)


def features_of_random_nodes(data: Data, mask: Tensor, labels: Tensor,
                             generator: torch.Generator) -> Tensor:
    """For every entry ``c`` of ``labels``, the features (float, a copy) of
    a random node of class ``c`` among ``mask``."""
    picked = []
    for c in labels.tolist():
        pool = torch.where(mask & (data.y == c))[0]
        picked.append(pool[torch.randint(pool.numel(), (1, ),
                                         generator=generator)])
    return data.x[torch.cat(picked)].clone().float()


def feature_scaled_lr(data: Data, mask: Tensor, scale: float) -> float:
    """``scale`` times the mean absolute feature of the ``mask`` nodes: Adam
    moves every coordinate by about its learning rate per step, so a feature
    learning rate must follow the feature scale (row-normalized Cora
    features average 7e-4)."""
    return scale * float(data.x[mask].abs().mean())


def dense_to_graph(adj: Tensor, threshold: float) -> Dict[str, Tensor]:
    """``edge_index``/``edge_weight`` of the entries of a dense adjacency
    above ``threshold`` (the diagonal excluded)."""
    adj = adj.detach().clone()
    adj.fill_diagonal_(0)
    index = (adj > threshold).nonzero().t()
    return {'edge_index': index, 'edge_weight': adj[index[0], index[1]]}


def edge_weights(graph: Data) -> Tensor:
    """``graph``'s edge weights, ones where it has none."""
    weight = getattr(graph, 'edge_weight', None)
    return torch.ones(graph.edge_index.size(1)) if weight is None else weight


def training_part(graph: Data) -> Data:
    """The subgraph of ``graph``'s ``train_mask`` nodes (relabelled, edge
    weights kept; all its nodes are training nodes)."""
    keep = graph.train_mask
    edge_index, edge_weight = subgraph(keep, graph.edge_index,
                                       edge_weights(graph),
                                       relabel_nodes=True,
                                       num_nodes=graph.num_nodes)
    n = int(keep.sum())
    return Data(x=graph.x[keep], y=graph.y[keep], edge_index=edge_index,
                edge_weight=edge_weight,
                train_mask=torch.ones(n, dtype=torch.bool),
                val_mask=torch.zeros(n, dtype=torch.bool))


def sampled_subgraph(data: Data, num_nodes: int,
                     generator: torch.Generator) -> Data:
    r"""The subgraph induced by ``num_nodes`` nodes drawn uniformly without
    replacement (relabelled in their original order, kept as
    ``original_index``; ``x``, ``y``, ``train_mask``, ``val_mask`` and edge
    weights kept): a stand-in for the whole graph in work too slow to do in
    full batch.

    The sample's Laplacian is not the graph's (each node keeps about a
    fraction ``num_nodes`` / :math:`n` of its neighbours) and its losses
    average over fewer training and validation nodes, so estimates made on
    it are biased and noisy. Measure the error before relying on it: the
    cosine between sampled and full-batch hypergradients is measured by
    ``examples/benchmark_sampled_hypergradient.py``.
    """
    if not 1 <= num_nodes <= data.num_nodes:
        raise ValueError(f"Cannot sample {num_nodes} nodes from a graph of "
                         f"{data.num_nodes}")
    keep = torch.randperm(data.num_nodes, generator=generator)[:num_nodes]
    keep = keep.sort().values
    for name in ('train_mask', 'val_mask'):
        if not bool(data[name][keep].any()):
            raise ValueError(
                f"A sample of {num_nodes} of the {data.num_nodes} nodes "
                f"holds no '{name}' node: sample more nodes")
    weight = getattr(data, 'edge_weight', None)
    edge_index, edge_weight = subgraph(keep, data.edge_index, weight,
                                       relabel_nodes=True,
                                       num_nodes=data.num_nodes)
    out = Data(x=data.x[keep], y=data.y[keep], edge_index=edge_index,
               train_mask=data.train_mask[keep], val_mask=data.val_mask[keep],
               original_index=keep)
    if edge_weight is not None:
        out.edge_weight = edge_weight
    return out
