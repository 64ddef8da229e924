"""Rank-preservation evaluation: does a condensed graph rank filters like the
original graph does?"""
import hashlib
import json
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from torch_geometric.data import Data
from tqdm.auto import tqdm

from hcdc_graph import io
from hcdc_graph.datasets import cache_dir, check_graph, require_masks
from hcdc_graph.paths import exclusive_lock
from hcdc_graph.hypergrad import (HypergradientDivergenceError, Neumann,
                                  hypergradient, optimize_hyperparameters)
from hcdc_graph.hypergrad.calibrate import train_params
from hcdc_graph.nn import PolyGNN
from hcdc_graph.ranking import (partial_spearman, rank_by_accuracy, recall_at_k,
                                regret, spearman_top_fraction)
from hcdc_graph.sparse import with_csr_adjacency
from hcdc_graph.train import (TrainResult, evaluate_node_classifier,
                              fit_node_classifier, graph_losses)


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
    return unit_peak_gain(coeffs)


def unit_peak_gain(coeffs: Tensor) -> Tensor:
    r"""Each row of ``coeffs`` rescaled so that the filter's response has
    :math:`\max_{\mu \in [0, 2]} |h(\mu)| = 1` (float32): the space of
    :func:`sample_filter_configs`, where filters differ in shape only."""
    coeffs = coeffs.double()
    mu = torch.linspace(0, 2, 201, dtype=torch.float64)
    response = coeffs @ mu.pow(torch.arange(coeffs.size(1)).view(-1, 1))
    gain = response.abs().max(dim=1).values.clamp_min(1e-12)
    return (coeffs / gain.view(-1, 1)).float()


def check_configs(configs: Tensor, minimum: int = 1) -> None:
    """Raises a ``ValueError`` unless ``configs`` is a finite ``(n, K + 1)``
    tensor of at least ``minimum`` distinct filters (a ranking of copies
    of one filter tells nothing)."""
    if not isinstance(configs, Tensor) or configs.dim() != 2 or \
            configs.size(1) < 2 or len(configs) < minimum:
        raise ValueError(f"'configs' must be a (n >= {minimum}, K + 1) "
                         f"tensor of filter coefficients, K >= 1")
    if not bool(torch.isfinite(configs).all()):
        raise ValueError("'configs' holds NaN or infinite coefficients")
    if len(torch.unique(configs, dim=0)) < len(configs):
        raise ValueError("'configs' holds the same filter more than once")


def check_comparable(original: Data, condensed: Data) -> None:
    """Raises a ``ValueError`` unless both graphs are valid and the
    condensed one has the original's features and no class it lacks."""
    check_graph(original)
    check_graph(condensed)
    if condensed.num_features != original.num_features:
        raise ValueError(f"The condensed graph has {condensed.num_features} "
                         f"features, the original {original.num_features}: "
                         f"it was condensed from another graph")
    if int(condensed.y.max()) > int(original.y.max()):
        raise ValueError("The condensed graph has labels the original graph "
                         "does not have")


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
    """How each config is trained (part of the cache key). ``self_loops``
    picks the filter's Laplacian (see
    :class:`~hcdc_graph.nn.PolyLaplacianConv`): it changes the ground truth
    as well as the condensed side."""
    hidden: int = 64
    epochs: int = 200
    lr: float = 0.01
    weight_decay: float = 5e-4
    dropout: float = 0.5
    seeds: Sequence[int] = (0, )
    self_loops: bool = True

    def __post_init__(self):
        for name in ('hidden', 'epochs'):
            if not isinstance(getattr(self, name), int) or \
                    getattr(self, name) < 1:
                raise ValueError(f"Recipe.{name} must be a positive integer "
                                 f"(got {getattr(self, name)!r})")
        if not self.lr > 0 or not self.weight_decay >= 0 or \
                not 0 <= self.dropout < 1:
            raise ValueError("Recipe needs lr > 0, weight_decay >= 0 and "
                             "0 <= dropout < 1")
        if len(self.seeds) == 0:
            raise ValueError("Recipe.seeds is empty: give at least one "
                             "training seed")

    def model(self, num_features: int, num_classes: int, K: int,
              **options) -> PolyGNN:
        """The PolyGNN this recipe trains (``options``, e.g. ``dropout=0.0``
        or ``cached=True``, override the recipe's)."""
        kwargs = {'dropout': self.dropout, 'self_loops': self.self_loops,
                  **options}
        return PolyGNN(num_features, self.hidden, num_classes, K=K,
                       **kwargs)


def fit_configs(data: Data, configs: Tensor, recipe: Recipe,
                progress: bool = False, desc: str = 'configs'
                ) -> Iterator[Tuple[int, PolyGNN, TrainResult]]:
    """Trains PolyGNN on ``data.train_mask`` for every config and seed of
    ``recipe``, yielding ``(config index, model, fit result)`` after each
    run, so a caller can score the trained model on more than the fit
    result holds. ``data`` should carry a CSR adjacency
    (:func:`~hcdc_graph.sparse.with_csr_adjacency`); the model is reused
    from run to run (``reset_parameters()`` at every fit)."""
    # cached: the normalized adjacency is built once per config, not per
    # epoch (reset_parameters() clears it).
    model = recipe.model(data.num_features, int(data.y.max()) + 1,
                         configs.size(1) - 1, cached=True)
    for i in tqdm(range(len(configs)), desc=desc, disable=not progress):
        for seed in recipe.seeds:
            yield i, model, fit_node_classifier(
                model, data, configs[i], epochs=recipe.epochs, lr=recipe.lr,
                weight_decay=recipe.weight_decay, seed=seed)


def evaluate_configs(data: Data, configs: Tensor, recipe: Recipe,
                     progress: bool = False, desc: str = 'configs'
                     ) -> Dict[str, np.ndarray]:
    """Trains PolyGNN on ``data.train_mask`` for every config and seed;
    returns the mean validation accuracy (``acc``) and loss (``loss``) per
    config, and the mean test accuracy (``test_acc``) when ``data`` has a
    test split. The graph is used as a CSR adjacency (built once)."""
    check_graph(data)
    check_configs(configs)
    data = with_csr_adjacency(data)
    out = {'acc': np.zeros(len(configs)), 'loss': np.zeros(len(configs))}
    if getattr(data, 'test_mask', None) is not None and \
            bool(data.test_mask.any()):
        out['test_acc'] = np.zeros(len(configs))
    for i, _, r in fit_configs(data, configs, recipe, progress, desc):
        out['acc'][i] += r.val_acc / len(recipe.seeds)
        out['loss'][i] += r.val_loss / len(recipe.seeds)
        if 'test_acc' in out:
            out['test_acc'][i] += r.test_acc / len(recipe.seeds)
    return out


def _hash_graph(h, data: Data) -> None:
    """Feeds what identifies a graph to the hash ``h``: its name, sizes,
    features and, for datasets with several, which split."""
    h.update(str(getattr(data, 'name', '')).encode())
    h.update(f'{data.num_nodes}-{data.edge_index.size(1)}-'
             f'{data.num_features}'.encode())
    h.update(data.x.float().sum().numpy().tobytes())
    if getattr(data, 'split', None) is not None:
        h.update(f'split-{data.split}'.encode())


def graph_fingerprint(data: Data) -> str:
    """A short hash that tells graphs apart (a generated graph's
    parameters, a dataset's split): part of every cache key."""
    h = hashlib.sha256(b'graph')
    _hash_graph(h, data)
    return h.hexdigest()[:10]


def _cache_key(data: Data, recipe: Recipe) -> str:
    """What a config's original-graph result depends on besides the config:
    the graph, its features and the recipe."""
    h = hashlib.sha256(b'v4')  # v4: one entry per config (v3: CSR propagation)
    _hash_graph(h, data)
    fields = asdict(recipe)
    if fields['self_loops']:  # keys made before the option stay valid
        del fields['self_loops']
    h.update(json.dumps(fields, sort_keys=True, default=list).encode())
    return h.hexdigest()[:20]


def _config_key(config: Tensor) -> str:
    return config.float().numpy().tobytes().hex()


def original_results(data: Data, configs: Tensor, recipe: Recipe,
                     cache: Optional[str] = None, progress: bool = False
                     ) -> Dict[str, np.ndarray]:
    """:func:`evaluate_configs` on the original graph, cached on disk because
    it is the expensive part. ``cache`` defaults to
    ``<user cache>/ground_truth``; it holds one file per graph and recipe
    with one entry per config, written as each config finishes. So an
    interrupted run resumes where it stopped, and a different set of configs
    (more of them, a subset) trains only the configs not seen before. Each
    config's training is seeded on its own, so its result does not depend
    on which other configs are evaluated. Besides :func:`evaluate_configs`'
    arrays, ``seconds`` holds each config's training time when the cache
    recorded it for every config asked for (entries written before
    2026-12-04 lack it)."""
    folder = cache or osp.join(cache_dir(), 'ground_truth')
    path = osp.join(folder, f'{_cache_key(data, recipe)}.json')
    check_configs(configs)
    saved = _read_ground_truth(path)
    missing = [i for i in range(len(configs))
               if _config_key(configs[i]) not in saved]
    if missing:
        check_graph(data)
        csr = with_csr_adjacency(data)  # built once, not per config
        os.makedirs(folder, exist_ok=True)
        for i in tqdm(missing, desc='original', disable=not progress):
            start = time.perf_counter()
            result = evaluate_configs(csr, configs[i:i + 1], recipe)
            seconds = time.perf_counter() - start
            # read-modify-write under the lock: another process filling
            # the same file meanwhile keeps its entries
            with exclusive_lock('ground-truth-' + hashlib.sha1(
                    osp.abspath(path).encode()).hexdigest()[:16]):
                saved = _read_ground_truth(path)
                saved[_config_key(configs[i])] = {
                    **{k: float(v[0]) for k, v in result.items()},
                    'seconds': seconds}
                io.write_json(path, saved)
    rows = [saved[_config_key(c)] for c in configs]
    # entries written before 2026-12-04 have no 'seconds': it is returned
    # only when every config asked for has it
    keys = [k for k in rows[0] if k != 'seconds' or
            all('seconds' in row for row in rows)]
    return {k: np.array([row[k] for row in rows]) for k in keys}


def _read_ground_truth(path: str) -> Dict[str, dict]:
    if not osp.exists(path):
        return {}
    try:
        saved = io.read_json(path)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"The ground-truth cache '{path}' is corrupt "
                         f"({type(e).__name__}: {e}); delete it to "
                         f"recompute its configs") from None
    if not isinstance(saved, dict):
        raise ValueError(f"The ground-truth cache '{path}' is corrupt (not "
                         f"an object); delete it to recompute its configs")
    return saved


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
    check_configs(configs, minimum=3)
    check_comparable(original, condensed)
    orig = original_results(original, configs, recipe, cache, progress)
    cond = evaluate_configs(condensed, configs, recipe, progress,
                            'condensed')
    r_orig = rank_by_accuracy(orig['acc'], orig['loss'])
    r_cond = rank_by_accuracy(cond['acc'], cond['loss'])
    top = r_orig >= len(configs) / 2
    table = [{'coeffs': configs[i].tolist(),
              'original_val_acc': float(orig['acc'][i]),
              'original_test_acc': float(orig['test_acc'][i])
              if 'test_acc' in orig else None,
              'condensed_val_acc': float(cond['acc'][i]),
              'condensed_val_loss': float(cond['loss'][i]),
              'original_rank': int(r_orig[i]),
              'condensed_rank': int(r_cond[i])} for i in range(len(configs))]
    return RankCorrelation(
        spearman=float(stats.spearmanr(r_orig, r_cond)[0]),
        kendall=float(stats.kendalltau(r_orig, r_cond)[0]),
        spearman_top_half=float(stats.spearmanr(r_orig[top],
                                                r_cond[top])[0]),
        original_spread=float(orig['acc'].max() - orig['acc'].min()),
        table=table)


def filter_gain(configs: Tensor, mu: float = 0.0) -> np.ndarray:
    r"""Each filter's gain :math:`|h(\mu)| = |\sum_k \lambda_k \mu^k|` at
    the Laplacian eigenvalue ``mu``."""
    return np.abs(filter_response(configs, float(mu)))


def frequency_response_correlation(scores: np.ndarray, configs: Tensor,
                                   mu: float = 0.0) -> Dict[str, float]:
    r"""Spearman's :math:`\rho` between ``scores`` (one per config, higher
    is better: validation accuracies or ranks) and the filters' gain at the
    Laplacian eigenvalue ``mu``, :math:`|h(\mu)| = |\sum_k \lambda_k
    \mu^k|`, over all configs (``spearman``) and over those scoring at or
    above the median (``spearman_top_half``).

    Which part of the spectrum a ranking follows. At ``mu=0`` it is a
    data-free reference for :func:`rank_correlation`: on an edgeless graph
    a filter acts as :math:`\lambda_0 I` (with self loops, :math:`\tilde{L}`
    is zero at an isolated node), so a condensed graph with few edges ranks
    filters by little more than :math:`|h(0)|`; a condenser earns its keep
    only above it."""
    scores = np.asarray(scores, dtype=float)
    if configs.dim() != 2 or len(configs) != len(scores) or len(scores) < 3:
        raise ValueError("'configs' must be a (n >= 3, K + 1) tensor with "
                         "one row per score")
    gain = filter_gain(configs, mu)
    top = scores >= np.median(scores)
    return {'spearman': float(stats.spearmanr(scores, gain)[0]),
            'spearman_top_half': float(stats.spearmanr(scores[top],
                                                       gain[top])[0])}


def correlation_beyond_gain(original_ranks: np.ndarray,
                            condensed_ranks: np.ndarray, configs: Tensor,
                            mu: float = 0.0) -> float:
    r"""Spearman's :math:`\rho` between the original and the condensed
    ranking of ``configs`` with the data-free ranking by :math:`|h(\mu)|`
    partialled out (:func:`~hcdc_graph.ranking.partial_spearman`).

    Plain :func:`rank_correlation` credits a condensed graph for agreeing
    with the original on whatever both owe to the filters' shape alone: an
    edgeless graph ranks by :math:`|h(0)|`, and with
    :func:`sample_filter_configs` that alone scores 0.82 on Cora. This is
    the agreement left over: what the condensed data adds to the proxy
    (through its structure, and through how its features meet each filter's
    sign and scale: the edgeless GCond-X graphs of Table 2 score -0.11 to
    0.32 here, mean 0.12 over 6 cells x 3 seeds). NaN when the condensed
    graph ranks exactly by :math:`|h(\mu)|`."""
    if configs.dim() != 2 or not \
            len(configs) == len(original_ranks) == len(condensed_ranks):
        raise ValueError("'configs' must be a (n, K + 1) tensor with one "
                         "row per rank")
    return partial_spearman(original_ranks, condensed_ranks,
                            filter_gain(configs, mu))


@dataclass
class SelectedPerformance:
    """Result of :func:`selected_performance`: test accuracies (on the
    original graph) of the filter a search on the condensed graph selects.

    ``grid_*``: the best of the configs on the condensed graph;
    ``hpo_*``: continuous hypergradient HPO on the condensed graph started
    from the grid's choice (``hpo_error`` says why it is missing, if it is);
    ``oracle_*``: the best config on the original graph's validation split
    (the whole-graph search the condensed one stands in for).
    """
    grid_config: List[float]
    grid_test_acc: float
    oracle_config: List[float]
    oracle_test_acc: float
    hpo_config: Optional[List[float]] = None
    hpo_test_acc: Optional[float] = None
    hpo_error: Optional[str] = None

    def as_dict(self) -> dict:
        return asdict(self)


def hpo_on_condensed(condensed: Data, start: Tensor, recipe: Recipe,
                     steps: int = 20, solver=None) -> Tensor:
    r"""Continuous filter search on a (small) graph: hypergradient descent on
    :math:`\lambda` from ``start`` (training on ``train_mask``, validation
    loss on ``val_mask``, no dropout so the losses are deterministic).
    Returns the final :math:`\lambda`."""
    model = recipe.model(condensed.num_features, int(condensed.y.max()) + 1,
                         start.numel() - 1, dropout=0.0).eval()
    train_loss, val_loss = graph_losses(model, condensed,
                                        recipe.weight_decay)
    torch.manual_seed(recipe.seeds[0])
    model.reset_parameters()
    result = optimize_hyperparameters(
        train_loss, val_loss, list(model.parameters()), [start],
        outer_steps=steps, inner_steps=20, inner_lr=recipe.lr,
        hyper_lr=0.02, warmup_steps=recipe.epochs,
        solver=solver or Neumann(steps=20, alpha=0.01))
    return result.hparams[0]


def hypergradient_alignment(original: Data, condensed: Data,
                            configs: Tensor, recipe: Optional[Recipe] = None,
                            train_epochs: int = 200, solver=None,
                            progress: bool = False) -> Tensor:
    r"""Per config :math:`\lambda`, the cosine between the original graph's
    and the condensed graph's hypergradients,
    :math:`\cos(\nabla_\lambda \mathcal{L}^*_{\mathcal{T}},
    \nabla_\lambda \mathcal{L}^*_{\mathcal{S}})`, both at the
    :math:`\theta` trained ``train_epochs`` Adam steps on the condensed
    ``train_mask`` (seed ``recipe.seeds[0]``; each side's implicit Jacobian
    from its own training loss, validation loss on its own ``val_mask``).

    This is the quantity :class:`~hcdc_graph.HCDCCondenser` maximises
    (``theta='synthetic'``) on its own search-space points; at configs it
    never saw (e.g. :func:`sample_filter_configs` with another seed) it
    measures whether the calibration generalises, and it applies to any
    condensed graph with a ``val_mask``. Cost per config: one training on
    the condensed graph and one hypergradient on each graph.
    """
    recipe = recipe or Recipe()
    solver = solver or Neumann(steps=20, alpha=0.01)
    num_classes = int(original.y.max()) + 1

    def losses(graph):
        # A model per graph: each caches its graph's normalized adjacency.
        model = recipe.model(graph.num_features, num_classes,
                             configs.size(1) - 1, dropout=0.0, cached=True)
        return model, graph_losses(model, with_csr_adjacency(graph),
                                   recipe.weight_decay)

    _, (o_train, o_val) = losses(original)
    model, (s_train, s_val) = losses(condensed)
    cosines = []
    for lam in tqdm(configs, desc='hypergradient alignment',
                    disable=not progress):
        torch.manual_seed(recipe.seeds[0])
        model.reset_parameters()
        params = train_params(s_train, list(model.parameters()), (lam, ),
                              train_epochs)
        g_o, = hypergradient(o_train, o_val, params, [lam], solver)
        g_s, = hypergradient(s_train, s_val, params, [lam], solver)
        cosines.append(torch.nn.functional.cosine_similarity(
            g_o.flatten(), g_s.flatten(), dim=0, eps=1e-12))
    return torch.stack(cosines)


def transfer_results(original: Data, condensed: Data, configs: Tensor,
                     recipe: Optional[Recipe] = None,
                     progress: bool = False) -> Dict[str, np.ndarray]:
    r"""Per config, PolyGNN trained with ``recipe`` on the condensed graph's
    S_train (``train_mask``) and scored on the *original* graph's
    ``val_mask``: the mean validation accuracy (``acc``) and loss
    (``loss``) over the recipe's seeds.

    :class:`~hcdc_graph.HCDCCondenser` (``theta='synthetic'``) calibrates
    its S_val against exactly this: the original validation loss
    :math:`\mathcal{L}_{\mathcal{T}}(\theta^*_{\mathcal{S}}(\lambda),
    \lambda)` at :math:`\theta` trained on S_train. Ranked and compared
    with the ground truth (:func:`original_results`), it shows how far a
    perfectly calibrated S_val could get on this S_train; it depends on
    S_train alone. The model's weights move from the condensed to the
    original graph unchanged (the filter is applied to each graph's own
    Laplacian), so both graphs need the same features and classes.
    """
    recipe = recipe or Recipe()
    check_comparable(original, condensed)
    num_classes = int(original.y.max()) + 1
    condensed = with_csr_adjacency(condensed)
    # Only the validation split is scored on the original graph.
    target = Data(x=original.x, edge_index=original.edge_index,
                  adj_t=with_csr_adjacency(original).adj_t, y=original.y,
                  val_mask=original.val_mask)

    def model():  # cached: each keeps its own graph's operator
        return recipe.model(original.num_features, num_classes,
                            configs.size(1) - 1, cached=True)

    trained, scorer = model(), model()
    out = {'acc': np.zeros(len(configs)), 'loss': np.zeros(len(configs))}
    for i in tqdm(range(len(configs)), desc='transfer',
                  disable=not progress):
        for seed in recipe.seeds:
            fit_node_classifier(trained, condensed, configs[i],
                                epochs=recipe.epochs, lr=recipe.lr,
                                weight_decay=recipe.weight_decay, seed=seed)
            scorer.load_state_dict(trained.state_dict())
            metrics = evaluate_node_classifier(scorer, target, configs[i])
            out['acc'][i] += metrics['val_acc'] / len(recipe.seeds)
            out['loss'][i] += metrics['val_loss'] / len(recipe.seeds)
    return out


def selected_performance(original: Data, condensed: Data, configs: Tensor,
                         recipe: Optional[Recipe] = None,
                         cache: Optional[str] = None, hpo_steps: int = 20,
                         rank: Optional[RankCorrelation] = None,
                         progress: bool = False) -> SelectedPerformance:
    """Test accuracy on the original graph of the filter selected on the
    condensed graph (Table 2's Perf.), beside the whole-graph oracle.

    The grid choice is the config ranked first on the condensed graph
    (accuracy on ``val_mask``, ties by loss); its test accuracy is that of
    the same recipe retrained on the original graph, i.e. the cached
    original-graph run of that config (the original graph needs a
    ``test_mask``). With ``hpo_steps > 0``, :func:`hpo_on_condensed` refines
    the grid choice and the result is retrained on the original graph.
    ``rank`` (from :func:`rank_correlation` on the same inputs) saves
    re-training the configs on the condensed graph.
    """
    recipe = recipe or Recipe()
    require_masks(original, 'test_mask')
    orig = original_results(original, configs, recipe, cache, progress)
    if rank is None:
        cond = evaluate_configs(condensed, configs, recipe, progress,
                                'condensed')
        r_cond = rank_by_accuracy(cond['acc'], cond['loss'])
    else:
        r_cond = np.array([row['condensed_rank'] for row in rank.table])
    grid = int(np.argmax(r_cond))
    oracle = int(np.argmax(rank_by_accuracy(orig['acc'], orig['loss'])))
    out = SelectedPerformance(
        grid_config=configs[grid].tolist(),
        grid_test_acc=float(orig['test_acc'][grid]),
        oracle_config=configs[oracle].tolist(),
        oracle_test_acc=float(orig['test_acc'][oracle]))
    if hpo_steps > 0:
        try:
            lam = hpo_on_condensed(condensed, configs[grid], recipe,
                                   hpo_steps)
        except (HypergradientDivergenceError, ArithmeticError) as e:
            out.hpo_error = str(e)
        else:
            out.hpo_config = lam.tolist()
            out.hpo_test_acc = float(evaluate_configs(
                original, lam.view(1, -1), recipe)['test_acc'][0])
    return out


# The declared family of data-free proxies (benchmark v2): a ranking of the
# filters computed from λ alone, with no data. Fixed before any v2 result.
FLOOR_POINTS = (0.0, 0.5, 1.0, 1.5, 2.0)


def filter_response(configs: Tensor, mu) -> np.ndarray:
    r"""Each filter's frequency response :math:`h(\mu) = \sum_k \lambda_k
    \mu^k` at the eigenvalue(s) ``mu``: shape ``(n,)`` for a number,
    ``(n, len(mu))`` for a sequence."""
    mu_t = torch.as_tensor(mu, dtype=torch.float64)
    powers = mu_t.reshape(-1, 1).pow(torch.arange(configs.size(1)))
    out = (configs.double().cpu() @ powers.t()).numpy()
    return out[:, 0] if mu_t.dim() == 0 else out


def floor_proxies(configs: Tensor) -> Dict[str, np.ndarray]:
    r"""The data-free proxies of the filter ranking (higher is predicted
    better): :math:`h(\mu)` and :math:`|h(\mu)|` for :math:`\mu \in
    \{0, 0.5, 1, 1.5, 2\}`, and :math:`|h(0)|/g` and :math:`|h(2)|/g` with
    :math:`g` the RMS gain of the response over :math:`[0, 2]`.

    Any graph on which every filter acts through one point of its response
    ranks by one of these (an edgeless graph by :math:`|h(0)|` under the
    Laplacian with self-loops, by :math:`|h(1)|` under ChebNet's), so a
    condensed graph earns credit only for what it adds to the best of
    them (:func:`floor`)."""
    h = filter_response(configs, FLOOR_POINTS)
    grid = filter_response(configs, np.linspace(0, 2, 201))
    rms = np.sqrt((grid ** 2).mean(axis=1)).clip(1e-12)
    out = {}
    for j, mu in enumerate(FLOOR_POINTS):
        out[f'h({mu:g})'] = h[:, j]
        out[f'|h({mu:g})|'] = np.abs(h[:, j])
    out['|h(0)|/g'] = np.abs(h[:, 0]) / rms
    out['|h(2)|/g'] = np.abs(h[:, -1]) / rms
    return out


def floor(original_ranks: np.ndarray, configs: Tensor) -> Dict:
    """The floor: of :func:`floor_proxies`, the one with the highest
    Spearman's :math:`\\rho` against ``original_ranks`` (chosen after
    seeing the truth, so optimistic for the floor and conservative for
    every method). Returns its ``name``, ``spearman`` and ``values``."""
    best = None
    for name, values in floor_proxies(configs).items():
        rho = float(stats.spearmanr(original_ranks, values)[0])
        if rho == rho and (best is None or rho > best['spearman']):
            best = {'name': name, 'spearman': rho, 'values': values}
    return best


def ranking_metrics(original_ranks: np.ndarray, other_ranks: np.ndarray,
                    test_acc: np.ndarray, floor_values: np.ndarray
                    ) -> Dict[str, float]:
    """Benchmark v2's measures of how well ``other_ranks`` stands in for
    ``original_ranks`` (ranks: higher is better) over the same configs:
    Spearman, Kendall, Spearman beyond the floor (partial, controlling for
    ``floor_values``), top-1 and best-of-top-5 regret in test accuracy
    points (``test_acc`` on the original graph), recall@5 and Spearman over
    the original's top quartile."""
    beyond = partial_spearman(original_ranks, other_ranks, floor_values)
    return {
        'spearman': float(stats.spearmanr(original_ranks, other_ranks)[0]),
        'kendall': float(stats.kendalltau(original_ranks, other_ranks)[0]),
        'beyond_floor': None if beyond != beyond else beyond,
        'regret_top1': 100 * regret(test_acc, original_ranks, other_ranks, 1),
        'regret_top5': 100 * regret(test_acc, original_ranks, other_ranks, 5),
        'recall_at_5': recall_at_k(original_ranks, other_ranks, 5),
        'spearman_top_quartile': spearman_top_fraction(original_ranks,
                                                       other_ranks, 0.25),
    }
