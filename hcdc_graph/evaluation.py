"""Rank-preservation evaluation: does a condensed graph rank filters like the
original graph does?"""
import hashlib
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from hcdc_graph.datasets import cache_dir, require_masks
from hcdc_graph.nn import PolyGNN
from hcdc_graph.train import fit_node_classifier


def sample_filter_configs(n: int = 80, K: int = 2, seed: int = 0) -> Tensor:
    r"""Samples ``n`` filter coefficient vectors :math:`\lambda \in
    \mathbb{R}^{K+1}` spanning low-pass to high-pass filters.

    Distribution: :math:`\lambda_k \sim \mathcal{U}(-1, 1)` independently,
    then rescaled so that the filter's frequency response :math:`h(\mu) =
    \sum_k \lambda_k \mu^k` has :math:`\max_{\mu \in [0, 2]} |h(\mu)| = 1`
    (the eigenvalues of :math:`\tilde{L}` lie in :math:`[0, 2)`), so every
    filter has the same gain and the configs differ in shape only: low-pass
    (:math:`|h(0)| > |h(2)|`), high-pass and band filters all occur.
    Deterministic per ``seed``.
    """
    if n < 1 or K < 1:
        raise ValueError(f"'n' and 'K' must be positive (got n={n}, K={K})")
    gen = torch.Generator().manual_seed(seed)
    coeffs = torch.rand(n, K + 1, generator=gen, dtype=torch.float64) * 2 - 1
    mu = torch.linspace(0, 2, 201, dtype=torch.float64)
    response = coeffs @ mu.pow(torch.arange(K + 1).view(-1, 1))
    gain = response.abs().max(dim=1).values.clamp_min(1e-12)
    return (coeffs / gain.view(-1, 1)).float()


def _ranks(acc: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Ranks by accuracy, ties broken by lower validation loss (few
    validation nodes give many accuracy ties)."""
    order = np.lexsort((-loss, acc))  # ascending: worst first
    ranks = np.empty(len(acc))
    ranks[order] = np.arange(len(acc))
    return ranks


@dataclass
class RankCorrelation:
    """Result of :func:`rank_correlation`.

    ``spearman`` and ``kendall`` compare the two rankings of all configs;
    ``spearman_top_half`` only the better half by original accuracy (the part
    a search relies on); ``original_spread`` is max - min of the original
    validation accuracies (a set of hopeless filters makes any method look
    good). ``table`` has one row per config.
    """
    spearman: float
    kendall: float
    spearman_top_half: float
    original_spread: float
    table: List[Dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    """How each config is trained (part of the cache key)."""
    hidden: int = 64
    epochs: int = 200
    lr: float = 0.01
    weight_decay: float = 5e-4
    dropout: float = 0.5
    seeds: Sequence[int] = (0, )


def evaluate_configs(data: Data, configs: Tensor, recipe: Recipe,
                     progress: bool = False, desc: str = 'configs'
                     ) -> Dict[str, np.ndarray]:
    """Trains PolyGNN on ``data.train_mask`` for every config and seed;
    returns the mean validation accuracy and loss per config."""
    require_masks(data, 'train_mask', 'val_mask')
    K = configs.size(1) - 1
    model = PolyGNN(data.num_features, recipe.hidden, int(data.y.max()) + 1,
                    K=K, dropout=recipe.dropout, cached=False)
    acc = np.zeros(len(configs))
    loss = np.zeros(len(configs))
    for i in tqdm(range(len(configs)), desc=desc, disable=not progress):
        for seed in recipe.seeds:
            r = fit_node_classifier(model, data, configs[i],
                                    epochs=recipe.epochs, lr=recipe.lr,
                                    weight_decay=recipe.weight_decay,
                                    seed=seed)
            acc[i] += r.val_acc / len(recipe.seeds)
            loss[i] += r.val_loss / len(recipe.seeds)
    return {'acc': acc, 'loss': loss}


def _cache_key(data: Data, configs: Tensor, recipe: Recipe) -> str:
    h = hashlib.sha256()
    h.update(str(getattr(data, 'name', '')).encode())
    h.update(f'{data.num_nodes}-{data.edge_index.size(1)}-'
             f'{data.num_features}'.encode())
    h.update(data.x.float().sum().numpy().tobytes())
    h.update(configs.float().numpy().tobytes())
    h.update(json.dumps(asdict(recipe), sort_keys=True,
                        default=list).encode())
    return h.hexdigest()[:20]


def original_results(data: Data, configs: Tensor, recipe: Recipe,
                     cache: Optional[str] = None, progress: bool = False
                     ) -> Dict[str, np.ndarray]:
    """:func:`evaluate_configs` on the original graph, cached on disk (keyed
    by the dataset, the configs and the recipe) because it is the expensive
    part. ``cache`` defaults to ``<user cache>/ground_truth``."""
    folder = cache or osp.join(cache_dir(), 'ground_truth')
    path = osp.join(folder, f'{_cache_key(data, configs, recipe)}.json')
    if osp.exists(path):
        with open(path) as f:
            saved = json.load(f)
        return {k: np.asarray(v) for k, v in saved.items()}
    out = evaluate_configs(data, configs, recipe, progress, 'original')
    os.makedirs(folder, exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump({k: v.tolist() for k, v in out.items()}, f)
    os.replace(path + '.tmp', path)
    return out


def rank_correlation(original: Data, condensed: Data, configs: Tensor,
                     recipe: Optional[Recipe] = None,
                     cache: Optional[str] = None,
                     progress: bool = False) -> RankCorrelation:
    """Spearman's ρ and Kendall's τ between the rankings of ``configs`` by
    validation performance on the original graph (trained on its
    ``train_mask``, scored on its ``val_mask``) and on the condensed graph
    (trained on S_train = ``train_mask``, scored on S_val = ``val_mask``).
    Ties in accuracy are broken by validation loss."""
    recipe = recipe or Recipe()
    if configs.dim() != 2 or len(configs) < 3:
        raise ValueError("'configs' must be a (n >= 3, K + 1) tensor")
    orig = original_results(original, configs, recipe, cache, progress)
    cond = evaluate_configs(condensed, configs, recipe, progress,
                            'condensed')
    r_orig = _ranks(orig['acc'], orig['loss'])
    r_cond = _ranks(cond['acc'], cond['loss'])
    top = r_orig >= len(configs) / 2
    table = [{'coeffs': configs[i].tolist(),
              'original_val_acc': float(orig['acc'][i]),
              'condensed_val_acc': float(cond['acc'][i]),
              'original_rank': int(r_orig[i]),
              'condensed_rank': int(r_cond[i])} for i in range(len(configs))]
    return RankCorrelation(
        spearman=float(stats.spearmanr(r_orig, r_cond)[0]),
        kendall=float(stats.kendalltau(r_orig, r_cond)[0]),
        spearman_top_half=float(stats.spearmanr(r_orig[top],
                                                r_cond[top])[0]),
        original_spread=float(orig['acc'].max() - orig['acc'].min()),
        table=table)
