"""Ranking configurations by validation results (graph and image evaluation
alike; no graph code)."""
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
    partialled out: the Pearson correlation of the ranks, corrected for the
    ranks of ``control``,

    .. math::
        \rho_{xy \cdot z} = \frac{\rho_{xy} - \rho_{xz}\,\rho_{yz}}
        {\sqrt{(1 - \rho_{xz}^2)(1 - \rho_{yz}^2)}}.

    How much two rankings agree beyond what both owe to ``control`` (e.g. a
    data-free proxy that predicts either). NaN when ``x`` or ``y`` is
    constant or ranks exactly as ``control`` does (nothing is left to
    correlate)."""
    x, y, control = (np.asarray(v, dtype=float) for v in (x, y, control))
    if not len(x) == len(y) == len(control) or len(x) < 4:
        raise ValueError("'x', 'y' and 'control' must have the same length, "
                         "4 or more")
    rho = np.corrcoef(np.stack([stats.rankdata(v)
                                for v in (x, y, control)]))
    r_xy, r_xz, r_yz = rho[0, 1], rho[0, 2], rho[1, 2]
    denominator = (1 - r_xz ** 2) * (1 - r_yz ** 2)
    if not denominator > 1e-12:
        return float('nan')
    return float((r_xy - r_xz * r_yz) / np.sqrt(denominator))
