"""The NAS-Bench-Graph space and its ground truth (Qin et al., "NAS-Bench-
Graph: Benchmarking Graph Neural Architecture Search", 2022), so that a
condensed graph is scored against a table no one here made.

The table ships with the PyPI package ``nas-bench-graph`` (1.4.0, extra
``[nas]``): one pickle per dataset mapping an architecture's hash to its
measured ``valid_perf``, ``perf`` (test accuracy), ``latency`` and ``para``
(parameters, millions). Only its data files are read, with a restricted
unpickler (plain containers and numpy numbers): its code is never
imported.

An architecture is four computing nodes: node ``i`` applies ``ops[i]`` to
the output of node ``link[i]`` (0 = the input features), ``link`` one of
the nine patterns of :data:`LINKS`. The nodes whose output no other node
reads are concatenated, and one hidden linear layer and a classifier give
the logits. There is no pre-processing layer, so an op reading the input
maps the raw features to the width and a ``skip`` there passes them on.
That structure is read from the table itself: :class:`BenchNet` has the
table's parameter count of every architecture less a constant 2,048 that
it does not model (tested on the table's rows). GAT is PyG's ``GATConv``
with 2 heads of width/2, concatenated. Edge weights (GCond's graphs) are
used by every graph op: natively by gcn, cheb, arma and graph, multiplied
into the messages of gin and sage and into the attention coefficients of
gat (after the softmax; its self-loops weigh 1), where PyG's layers
would ignore them and binarise the graph; on unweighted graphs the ops
are PyG's. The training recipe
(:data:`RECIPE`: Adam, lr 0.01, dropout 0.5, weight decay 5e-4, 200
epochs, width 256) is ours: SGD at lr 0.1 with dropout 0.7 for 400 epochs
does not train on row-normalized Cora features (validation accuracy 0.38
for skip-skip-skip-gcn, the table's 0.78; ours 0.78).
``examples/results/nas/`` reports how far it agrees with the table on the
original graph.
"""
import dataclasses
import importlib.util
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GATConv, GINConv, SAGEConv
from torch_geometric.utils import scatter
from tqdm.auto import tqdm

from hcdc_graph.io import restricted_load
from hcdc_graph.validation import check_graph

LINKS: Tuple[Tuple[int, ...], ...] = (
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3),
    (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3))
OPS = ('gat', 'gcn', 'gin', 'cheb', 'sage', 'arma', 'graph', 'fc', 'skip')
# Hash digits are in base len(OPS) + 1, as the benchmark numbers them.
BASE = len(OPS) + 1
BENCH_GLOBALS = frozenset({'numpy.dtype', 'numpy.core.multiarray.scalar',
                           'numpy._core.multiarray.scalar'})
# Training of every architecture (our reading of the benchmark's recipe).
RECIPE = {'dim': 256, 'dropout': 0.5, 'optimizer': 'adam', 'lr': 0.01,
          'weight_decay': 5e-4, 'epochs': 200}


@dataclasses.dataclass(frozen=True)
class BenchArch:
    """A NAS-Bench-Graph architecture in the benchmark's canonical form."""
    link: Tuple[int, ...]
    ops: Tuple[str, ...]

    def __post_init__(self):
        if tuple(self.link) not in LINKS:
            raise ValueError(f"link {self.link} is not one of the nine "
                             f"canonical patterns {LINKS}")
        if len(self.ops) != 4 or any(op not in OPS for op in self.ops):
            raise ValueError(f"ops must be four of {OPS} (got {self.ops})")

    def bench_hash(self) -> int:
        """The table's key: the link pattern's index, then one digit per
        op, in base :data:`BASE`."""
        key = LINKS.index(tuple(self.link))
        for op in self.ops:
            key = key * BASE + OPS.index(op)
        return key

    @classmethod
    def from_hash(cls, key: int) -> 'BenchArch':
        digits = []
        for _ in range(4):
            key, digit = divmod(int(key), BASE)
            digits.append(digit)
        if not 0 <= key < len(LINKS) or max(digits) >= len(OPS):
            raise ValueError(f"{key} is not a NAS-Bench-Graph hash")
        return cls(LINKS[key], tuple(OPS[d] for d in reversed(digits)))


def bench_path(dataset: str) -> str:
    """The shipped table of ``dataset`` (e.g. ``'cora'``)."""
    spec = importlib.util.find_spec('nas_bench_graph')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("NAS-Bench-Graph's tables are not installed: "
                                "pip install 'hcdc-graph[nas]' (the PyPI "
                                "package nas-bench-graph)")
    path = osp.join(spec.submodule_search_locations[0], 'light',
                    f'{dataset.lower()}.bench')
    if not osp.exists(path):
        raise FileNotFoundError(f"No NAS-Bench-Graph table for '{dataset}' "
                                f"({path})")
    return path


def load_bench(dataset: str) -> Dict[int, Dict[str, float]]:
    """The table: hash -> ``valid_perf``, ``perf``, ``latency``, ``para``
    (plain floats), read without running code from the file."""
    path = bench_path(dataset)
    with open(path, 'rb') as f:
        table = restricted_load(f, BENCH_GLOBALS, path)
    if not isinstance(table, dict):
        raise ValueError(f"'{path}' is not a NAS-Bench-Graph table")
    return {int(k): {m: float(v) for m, v in row.items()}
            for k, row in table.items()}


def unit_as_none(edge_weight: Optional[Tensor]) -> Optional[Tensor]:
    """``None`` for a graph whose edges all weigh 1, so that the ops run
    exactly as PyG's layers."""
    if edge_weight is not None and bool((edge_weight == 1).all()):
        return None
    return edge_weight


def _scaled(x_j: Tensor, edge_weight: Optional[Tensor]) -> Tensor:
    return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j


class WeightedGATConv(GATConv):
    """PyG's ``GATConv`` whose attention coefficients
    :math:`\alpha_{ij}` are multiplied by the edge weight :math:`w_{ij}`
    after the softmax (``forward(x, edge_index, edge_weight)``); its
    self-loops weigh 1, as GCN's do. The same layer as ``GATConv`` without
    weights."""
    def __init__(self, in_channels: int, out_channels: int, heads: int = 1):
        super().__init__(in_channels, out_channels, heads=heads,
                         fill_value=1.0)

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: Optional[Tensor] = None) -> Tensor:
        # the weights travel as edge_attr (no edge_dim: not learned from)
        return super().forward(x, edge_index, edge_attr=edge_weight)

    def edge_update(self, alpha_j: Tensor, alpha_i: Optional[Tensor],
                    edge_attr: Optional[Tensor], index: Tensor,
                    ptr: Optional[Tensor],
                    dim_size: Optional[int]) -> Tensor:
        alpha = super().edge_update(alpha_j, alpha_i, None, index, ptr,
                                    dim_size)
        return _scaled(alpha, edge_attr)


class WeightedGINConv(GINConv):
    r"""PyG's ``GINConv`` with weighted messages:
    :math:`\mathrm{nn}((1 + \epsilon) x_i + \sum_j w_{ij} x_j)`;
    ``GINConv`` itself without weights."""
    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: Optional[Tensor] = None) -> Tensor:
        if edge_weight is None:
            return super().forward(x, edge_index)
        return self.nn(_weighted_neighbours(x, edge_index, edge_weight,
                                            'sum') + (1 + self.eps) * x)


class WeightedSAGEConv(SAGEConv):
    r"""PyG's ``SAGEConv`` (mean aggregation, root weight) with weighted
    messages: :math:`W_l \operatorname{mean}_j w_{ij} x_j + W_r x_i`;
    ``SAGEConv`` itself without weights."""
    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: Optional[Tensor] = None) -> Tensor:
        if edge_weight is None:
            return super().forward(x, edge_index)
        return self.lin_l(_weighted_neighbours(
            x, edge_index, edge_weight, 'mean')) + self.lin_r(x)


def _weighted_neighbours(x: Tensor, edge_index: Tensor, edge_weight: Tensor,
                         reduce: str) -> Tensor:
    # by hand: PyG's compiled propagate of a subclass keeps its parent's
    # signature, which has no edge weights
    src, dst = edge_index
    return scatter(_scaled(x[src], edge_weight), dst, 0, x.size(0), reduce)


def _op(name: str, in_dim: int, dim: int) -> torch.nn.Module:
    from torch_geometric import nn as pyg
    if name == 'gat':
        return WeightedGATConv(in_dim, dim // 2, heads=2)
    if name == 'gcn':
        return pyg.GCNConv(in_dim, dim)
    if name == 'gin':
        return WeightedGINConv(torch.nn.Linear(in_dim, dim))
    if name == 'cheb':
        return pyg.ChebConv(in_dim, dim, K=2)
    if name == 'sage':
        return WeightedSAGEConv(in_dim, dim)
    if name == 'arma':
        return pyg.ARMAConv(in_dim, dim)
    if name == 'graph':
        return pyg.GraphConv(in_dim, dim)
    if name == 'fc':
        return torch.nn.Linear(in_dim, dim)
    return torch.nn.Identity()  # skip


class BenchNet(torch.nn.Module):
    """A NAS-Bench-Graph architecture as a network (see the module
    docstring); ``forward(x, edge_index, edge_weight=None)``. Dropout
    precedes every op and the hidden layer, ReLU follows them."""
    def __init__(self, arch: BenchArch, in_channels: int, num_classes: int,
                 dim: int = RECIPE['dim'], dropout: float = RECIPE['dropout']):
        super().__init__()
        self.arch, self.dropout = arch, dropout
        widths = [in_channels]
        for link, name in zip(arch.link, arch.ops):
            widths.append(widths[link] if name == 'skip' else dim)
        self.ops = torch.nn.ModuleList(
            _op(name, widths[link], dim)
            for link, name in zip(arch.link, arch.ops))
        used = set(arch.link)
        self.leaves = [i + 1 for i in range(4) if i + 1 not in used]
        self.hidden = torch.nn.Linear(sum(widths[i] for i in self.leaves),
                                      dim)
        self.classifier = torch.nn.Linear(dim, num_classes)

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: Optional[Tensor] = None) -> Tensor:
        edge_weight = unit_as_none(edge_weight)
        outputs = [x]
        for link, name, op in zip(self.arch.link, self.arch.ops, self.ops):
            h = F.dropout(outputs[link], self.dropout, self.training)
            if name == 'skip':
                outputs.append(outputs[link])
                continue
            h = op(h) if name == 'fc' else op(h, edge_index, edge_weight)
            outputs.append(F.relu(h))
        h = torch.cat([outputs[i] for i in self.leaves], dim=-1)
        h = F.relu(self.hidden(F.dropout(h, self.dropout, self.training)))
        return self.classifier(F.dropout(h, self.dropout, self.training))


def train_bench_arch(arch: BenchArch, data: Data, seed: int = 0,
                     recipe: Optional[Dict] = None) -> Dict:
    """Trains ``arch`` on ``data.train_mask``; validation accuracy and loss
    at the epoch of lowest validation loss (test accuracy there too when
    ``data`` has a test split), and the seconds."""
    recipe = {**RECIPE, **(recipe or {})}
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = BenchNet(arch, data.num_features, int(data.y.max()) + 1,
                     recipe['dim'], recipe['dropout'])
    optimizer = {'sgd': torch.optim.SGD, 'adam': torch.optim.Adam}[
        recipe['optimizer']]
    opt = optimizer(model.parameters(), lr=recipe['lr'],
                    weight_decay=recipe['weight_decay'])
    best = {'val_loss': float('inf'), 'val_acc': 0.0}
    test = getattr(data, 'test_mask', None)
    inputs = (data.x, data.edge_index, getattr(data, 'edge_weight', None))
    for _ in range(recipe['epochs']):
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(*inputs)[data.train_mask],
                        data.y[data.train_mask]).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            out = model(*inputs)
        loss = float(F.cross_entropy(out[data.val_mask],
                                     data.y[data.val_mask]))
        if loss < best['val_loss']:
            right = out.argmax(-1) == data.y
            best = {'val_loss': loss,
                    'val_acc': float(right[data.val_mask].float().mean())}
            if test is not None and bool(test.any()):
                best['test_acc'] = float(right[test].float().mean())
    best['seconds'] = time.perf_counter() - start
    return best


def sample_bench(table: Dict[int, Dict], n: int, seed: int = 0
                 ) -> List[BenchArch]:
    """``n`` distinct architectures of the table, drawn uniformly."""
    keys = sorted(table)
    if not 1 <= n <= len(keys):
        raise ValueError(f"Cannot sample {n} of {len(keys)} architectures")
    picked = np.random.default_rng(seed).choice(len(keys), n, replace=False)
    return [BenchArch.from_hash(keys[i]) for i in picked]


# Bins of the table's validation accuracy for a calibration sample (Cora:
# 5th percentile 0.64, median 0.78, 90th 0.80).
STRATA: Tuple[float, ...] = (0.0, 0.6, 0.7, 0.75, 0.78, 0.8, 1.0)


def sample_bench_stratified(table: Dict[int, Dict], per_stratum: int = 2,
                            edges: Sequence[float] = STRATA, seed: int = 1
                            ) -> List[BenchArch]:
    """``per_stratum`` distinct architectures from each bin
    ``[edges[i], edges[i + 1])`` of the table's ``valid_perf``, drawn
    uniformly within the bin: a calibration sample that spans the table's
    range, where a uniform one of Cora puts nine of ten architectures
    within 0.76-0.80, a spread one training seed's noise covers."""
    keys = sorted(table)
    rng = np.random.default_rng(seed)
    picked = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = [k for k in keys if low <= table[k]['valid_perf'] < high]
        if len(inside) < per_stratum:
            raise ValueError(f"Only {len(inside)} architectures of the table "
                             f"have valid_perf in [{low}, {high})")
        picked += [inside[i] for i in rng.choice(len(inside), per_stratum,
                                                 replace=False)]
    return [BenchArch.from_hash(k) for k in picked]


def bench_row(arch: BenchArch, graph: Data, table: Dict[int, Dict],
              recipe: Optional[Dict] = None) -> Dict:
    """Trains ``arch`` on ``graph`` (:func:`train_bench_arch`) and puts the
    table's row beside the result (keys ``bench_*``)."""
    return {'hash': arch.bench_hash(), 'link': list(arch.link),
            'ops': list(arch.ops), **train_bench_arch(arch, graph,
                                                      recipe=recipe),
            **{f'bench_{k}': v for k, v in table[arch.bench_hash()].items()}}


def score_rows(rows: Sequence[Dict]) -> Dict:
    """Agreement of rows of :func:`bench_row` with the table: the graph's
    ranking (S_val accuracy, ties by loss) against ``valid_perf`` by
    Spearman and Kendall with the null sd of that many architectures,
    Perf. (the table's test accuracy of the architecture ranked first)
    beside the best of the sample, and the data-free floor (Spearman of
    the parameter count)."""
    from hcdc_graph.ranking import null_sd, rank_by_accuracy
    if len(rows) < 3:
        raise ValueError(f"Scoring needs at least 3 architectures "
                         f"(got {len(rows)})")
    ranks = rank_by_accuracy(np.array([r['val_acc'] for r in rows]),
                             np.array([r['val_loss'] for r in rows]))
    truth = np.array([r['bench_valid_perf'] for r in rows])
    first = rows[int(np.argmax(ranks))]
    return {'spearman': float(stats.spearmanr(ranks, truth)[0]),
            'kendall': float(stats.kendalltau(ranks, truth)[0]),
            'null_sd': null_sd(len(rows)),
            'perf': first['bench_perf'],
            'best_sampled_perf': max(r['bench_perf'] for r in rows),
            'floor_parameters': float(stats.spearmanr(
                [r['bench_para'] for r in rows], truth)[0]),
            'seconds': sum(r['seconds'] for r in rows), 'table': list(rows)}


def bench_agreement(graph: Data, table: Dict[int, Dict],
                    archs: Sequence[BenchArch],
                    recipe: Optional[Dict] = None,
                    progress: bool = False) -> Dict:
    """Trains ``archs`` on ``graph`` (S_train; an original or condensed
    graph) and scores them against the table (:func:`score_rows`)."""
    check_graph(graph)
    return score_rows([bench_row(arch, graph, table, recipe) for arch in
                       tqdm(archs, desc='nas-bench', disable=not progress)])


__all__ = ['BenchArch', 'BenchNet', 'LINKS', 'OPS', 'RECIPE', 'load_bench',
           'sample_bench', 'sample_bench_stratified', 'STRATA',
           'train_bench_arch', 'bench_row', 'score_rows',
           'bench_agreement']
