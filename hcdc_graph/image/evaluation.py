"""Does a condensed image set rank NAS-Bench-201 cells like the benchmark's
ground truth does?"""
import os.path as osp
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import Tensor
from tqdm.auto import tqdm

from hcdc_graph import io
from hcdc_graph.image.condense import CondensedImages
from hcdc_graph.image.nasbench201 import index_to_arch
from hcdc_graph.image.networks import TinyNetwork
from hcdc_graph.ranking import partial_spearman, rank_by_accuracy


@dataclass
class ImageRankCorrelation:
    """Spearman's ρ and Kendall's τ between the ranking of the architectures
    by S_val accuracy (ties by S_val loss) and by ground-truth accuracy;
    ``perf``: the ground-truth accuracy of the architecture ranked first on
    the condensed data, beside ``best_sampled`` (the best one in the sample).
    ``spearman_pvalue``: the two-sided p-value of ``spearman`` against no
    association (with few architectures and a small S_val, a Spearman of
    0.2 can be chance). ``table``: one row per architecture."""
    spearman: float
    spearman_pvalue: float
    kendall: float
    perf: float
    best_sampled: float
    table: List[Dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def train_and_score(condensed: CondensedImages, arch: str, epochs: int,
                    C: int = 16, N: int = 1, lr: float = 0.01,
                    seed: int = 0) -> Dict[str, float]:
    """Trains ``TinyNetwork(arch, C, N)`` full batch on S_train (Adam,
    ``epochs`` steps) and scores it on S_val (eval mode)."""
    torch.manual_seed(seed)
    net = TinyNetwork(arch, C, N, int(condensed.train_y.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=5e-4)
    net.train()
    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(net(condensed.train_x), condensed.train_y).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        out = net(condensed.val_x)
    return {'val_acc': float((out.argmax(-1) == condensed.val_y).float()
                             .mean()),
            'val_loss': float(F.cross_entropy(out, condensed.val_y))}


def _require_rankable(archs: Sequence[int]) -> None:
    if len(archs) < 3:
        raise ValueError("need at least 3 architectures to rank")


def ranks_of(rows: Sequence[Dict]) -> np.ndarray:
    """Ranks (0 = worst) of per-architecture results (``val_acc``, ties by
    ``val_loss``), as :func:`rank_correlation` ranks them."""
    return rank_by_accuracy(np.array([r['val_acc'] for r in rows]),
                            np.array([r['val_loss'] for r in rows]))


def rank_correlation(condensed: CondensedImages, archs: Sequence[int],
                     ground_truth: Tensor, epochs: int = 300, C: int = 16,
                     N: int = 1, out_dir: Optional[str] = None,
                     progress: bool = False) -> ImageRankCorrelation:
    """Trains every architecture (NAS-Bench-201 indices ``archs``) on the
    condensed data and compares the ranking with ``ground_truth`` (accuracy
    by index, e.g. :func:`~hcdc_graph.image.nasbench201.load_ground_truth`).

    With ``out_dir``, each architecture's result is written to
    ``<out_dir>/<index>.json`` as soon as it finishes and read back on a
    rerun (resumable); the files record the training settings, and a file
    made with other settings is an error rather than silently mixed in.
    """
    _require_rankable(archs)
    settings = {'epochs': epochs, 'C': C, 'N': N}
    rows = []
    for index in tqdm(archs, desc='architectures', disable=not progress):
        path = osp.join(out_dir, f'{index}.json') if out_dir else None
        if path and osp.exists(path):
            row = io.read_json(path)
            if row.get('settings') != settings:
                raise ValueError(f"'{path}' was made with {row.get('settings')}"
                                 f", not {settings}: use another out_dir")
        else:
            start = time.perf_counter()
            row = {'index': int(index), 'arch': index_to_arch(index),
                   'settings': settings,
                   **train_and_score(condensed, index_to_arch(index), epochs,
                                     C, N)}
            row['seconds'] = time.perf_counter() - start
            if path:
                io.write_json(path, row)
        row['ground_truth'] = float(ground_truth[int(index)])
        rows.append(row)
    ranks = ranks_of(rows)
    truth = np.array([r['ground_truth'] for r in rows])
    spearman = stats.spearmanr(ranks, truth)
    return ImageRankCorrelation(
        spearman=float(spearman[0]), spearman_pvalue=float(spearman[1]),
        kendall=float(stats.kendalltau(ranks, truth)[0]),
        perf=float(truth[int(np.argmax(ranks))]),
        best_sampled=float(truth.max()), table=rows)


def parameter_counts(archs: Sequence[int], C: int = 16, N: int = 1,
                     num_classes: int = 10) -> np.ndarray:
    """Trainable parameters of ``TinyNetwork(arch, C, N)`` per index."""
    return np.array([sum(p.numel() for p in TinyNetwork(
        index_to_arch(int(i)), C, N, num_classes).parameters())
        for i in archs])


def parameter_count_correlation(archs: Sequence[int], ground_truth: Tensor,
                                C: int = 16, N: int = 1,
                                num_classes: int = 10) -> Dict[str, float]:
    """A data-free reference for :func:`rank_correlation`: Spearman's ρ (and
    its p-value) and Kendall's τ between the architectures' trainable
    parameter counts (``TinyNetwork(arch, C, N)``) and ``ground_truth``.
    In NAS-Bench-201 the convolutions carry the accuracy, so a ranking
    learned on condensed data has to beat this one to be worth its cost."""
    _require_rankable(archs)
    counts = parameter_counts(archs, C, N, num_classes)
    truth = [float(ground_truth[int(i)]) for i in archs]
    spearman = stats.spearmanr(counts, truth)
    return {'spearman': float(spearman[0]),
            'spearman_pvalue': float(spearman[1]),
            'kendall': float(stats.kendalltau(counts, truth)[0])}


def correlation_beyond_parameter_count(condensed_ranks: np.ndarray,
                                       archs: Sequence[int],
                                       ground_truth: Tensor, C: int = 16,
                                       N: int = 1,
                                       num_classes: int = 10) -> float:
    """Spearman's ρ between the ranking of ``archs`` on condensed data
    (``condensed_ranks``, e.g. from
    :func:`~hcdc_graph.ranking.rank_by_accuracy`) and ``ground_truth``,
    with the data-free ranking by parameter count partialled out
    (:func:`~hcdc_graph.ranking.partial_spearman`): what the condensed data
    tells about the architectures beyond their size. NaN when the condensed
    ranking follows the parameter count exactly."""
    if len(condensed_ranks) != len(archs):
        raise ValueError("'condensed_ranks' must have one rank per "
                         "architecture")
    if len(archs) < 4:
        raise ValueError("need at least 4 architectures for a partial "
                         "correlation")
    truth = [float(ground_truth[int(i)]) for i in archs]
    return partial_spearman(truth, condensed_ranks,
                            parameter_counts(archs, C, N, num_classes))
