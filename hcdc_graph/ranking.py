"""Ranking configurations by validation results (graph and image evaluation
alike; no graph code)."""
from typing import Dict, Sequence

import numpy as np
from scipy import stats


def rank_by_accuracy(acc: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Ranks (0 = worst) by accuracy, ties broken by lower validation loss
    (few validation samples give many accuracy ties)."""
    order = np.lexsort((-np.asarray(loss), np.asarray(acc)))
    ranks = np.empty(len(acc))
    ranks[order] = np.arange(len(acc))
    return ranks


def partial_spearman(x: np.ndarray, y: np.ndarray,
                     control: np.ndarray) -> float:
    r"""Spearman's :math:`\rho` between ``x`` and ``y`` with ``control``
    partialled out: the Pearson correlation of the ranks of ``x`` and
    ``y`` after the ranks of ``control`` (one variable, shape ``(n,)``, or
    several, ``(n, m)``) are regressed out of both. With one control this
    is

    .. math::
        \rho_{xy \cdot z} = \frac{\rho_{xy} - \rho_{xz}\,\rho_{yz}}
        {\sqrt{(1 - \rho_{xz}^2)(1 - \rho_{yz}^2)}}.

    How much two rankings agree beyond what both owe to ``control`` (e.g. a
    data-free proxy that predicts either). NaN when ``x`` or ``y`` is
    constant or ranks exactly as the controls do (nothing is left to
    correlate)."""
    x, y, control = (np.asarray(v, dtype=float) for v in (x, y, control))
    control = control.reshape(len(control), -1)
    if not len(x) == len(y) == len(control) or \
            len(x) < control.shape[1] + 3:
        raise ValueError("'x', 'y' and 'control' must have the same length, "
                         "at least the number of controls + 3")
    design = np.column_stack([np.ones(len(x))] + [
        stats.rankdata(c) for c in control.T])

    def residual(v: np.ndarray) -> np.ndarray:
        r = stats.rankdata(v)
        r = r - design @ np.linalg.lstsq(design, r, rcond=None)[0]
        # relative to the ranks' own spread: what is left is rounding
        return r if np.linalg.norm(r) > 1e-6 * np.linalg.norm(
            stats.rankdata(v) - stats.rankdata(v).mean()) else 0 * r

    rx, ry = residual(x), residual(y)
    denominator = np.linalg.norm(rx) * np.linalg.norm(ry)
    if not denominator > 0:
        return float('nan')
    return float(rx @ ry / denominator)


def top_k(ranks: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best entries of ``ranks`` (higher is better),
    best first."""
    return np.argsort(-np.asarray(ranks, dtype=float), kind='stable')[:k]


def regret(test_scores: np.ndarray, original_ranks: np.ndarray,
           other_ranks: np.ndarray, k: int = 1) -> float:
    """What a user loses by searching with ``other_ranks`` instead of
    ``original_ranks``: the test score of the original ranking's best
    config minus the best test score among the ``k`` configs
    ``other_ranks`` puts first (the user retrains those ``k`` on the
    original data and keeps the best). Negative when the other ranking
    happens to pick a config that tests better."""
    test_scores = np.asarray(test_scores, dtype=float)
    best = test_scores[top_k(original_ranks, 1)[0]]
    return float(best - test_scores[top_k(other_ranks, k)].max())


def recall_at_k(original_ranks: np.ndarray, other_ranks: np.ndarray,
                k: int = 5) -> float:
    """The share of the original ranking's ``k`` best configs that are
    also among ``other_ranks``'s ``k`` best."""
    return len(set(top_k(original_ranks, k).tolist())
               & set(top_k(other_ranks, k).tolist())) / k


def spearman_top_fraction(original_ranks: np.ndarray,
                          other_ranks: np.ndarray,
                          fraction: float = 0.25) -> float:
    """Spearman's :math:`\\rho` over the configs in the best ``fraction``
    of the original ranking (the part a search decides among)."""
    original_ranks = np.asarray(original_ranks, dtype=float)
    keep = top_k(original_ranks, max(3, int(round(fraction *
                                                  len(original_ranks)))))
    return float(stats.spearmanr(original_ranks[keep],
                                 np.asarray(other_ranks)[keep])[0])


def paired_bootstrap(original_ranks: np.ndarray,
                     method_ranks: Sequence[np.ndarray],
                     baseline_ranks: Sequence[np.ndarray],
                     num_samples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> Dict[str, float]:
    r"""A paired bootstrap of Spearman's :math:`\rho` of a method minus a
    baseline's, both against ``original_ranks``.

    ``method_ranks`` and ``baseline_ranks`` hold one ranking per
    condensation seed (paired by position). Each bootstrap sample draws the
    configs with replacement (the same draw for every ranking), computes
    the mean over seeds of :math:`\rho_{method} - \rho_{baseline}` on them,
    and the interval is the percentile interval at ``level``. Returns
    ``difference`` (the mean difference on all configs), ``low``,
    ``high``, ``per_seed`` signs agreeing with it (``agree``) and ``win``
    (the interval excludes 0 *and* at least 2 of 3 seeds, in general more
    than half of them, agree in sign): the rule every v2 report uses."""
    original_ranks = np.asarray(original_ranks, dtype=float)
    if len(method_ranks) != len(baseline_ranks) or not method_ranks:
        raise ValueError("Pass one method and one baseline ranking per "
                         "seed, paired by position")
    n = len(original_ranks)
    pairs = [(np.asarray(m, dtype=float), np.asarray(b, dtype=float))
             for m, b in zip(method_ranks, baseline_ranks)]

    def difference(index: np.ndarray) -> np.ndarray:
        # Spearman per row of `index` (resampled configs), mean over seeds.
        def rho(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            ra = stats.rankdata(a[index], axis=1)
            rb = stats.rankdata(b[index], axis=1)
            ra -= ra.mean(axis=1, keepdims=True)
            rb -= rb.mean(axis=1, keepdims=True)
            den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
            with np.errstate(invalid='ignore', divide='ignore'):
                return (ra * rb).sum(1) / den
        return np.mean([rho(original_ranks, m) - rho(original_ranks, b)
                        for m, b in pairs], axis=0)

    full = difference(np.arange(n)[None])[0]
    per_seed = [
        float(stats.spearmanr(original_ranks, m)[0]
              - stats.spearmanr(original_ranks, b)[0]) for m, b in pairs]
    draws = np.random.default_rng(seed).integers(0, n, (num_samples, n))
    samples = difference(draws)
    samples = samples[np.isfinite(samples)]
    alpha = (1 - level) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    agree = sum(np.sign(d) == np.sign(full) and d != 0
                for d in per_seed)
    excludes_zero = low > 0 or high < 0
    return {'difference': float(full), 'low': float(low),
            'high': float(high), 'per_seed': per_seed,
            'agree': int(agree),
            'win': bool(excludes_zero and full > 0
                        and agree > len(pairs) / 2),
            'loss': bool(excludes_zero and full < 0
                         and agree > len(pairs) / 2)}


def null_sd(n: int) -> float:
    """The standard deviation of Spearman's :math:`\\rho` between two
    independent rankings of ``n`` items, :math:`1/\\sqrt{n - 1}`: a
    correlation within about twice this of 0 tells nothing."""
    return float(1.0 / np.sqrt(n - 1))


def spearman_interval(x: np.ndarray, y: np.ndarray,
                      num_samples: int = 2000, seed: int = 0,
                      level: float = 0.95) -> Sequence[float]:
    """A percentile bootstrap interval of Spearman's :math:`\\rho` between
    ``x`` and ``y`` (items resampled with replacement); resamples where a
    ranking is constant are left out."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(x),
                                                 (num_samples, len(x)))
    rx = stats.rankdata(x[draws], axis=1)
    ry = stats.rankdata(y[draws], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        rho = (rx * ry).sum(1) / np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))
    rho = rho[np.isfinite(rho)]
    alpha = (1 - level) / 2
    return [float(v) for v in np.quantile(rho, [alpha, 1 - alpha])]
