r"""Choosing the few validation nodes whose verdicts agree with the many.

A condensed graph scores a filter by its accuracy on a handful of
validation nodes; with 15-60 of them that accuracy is mostly sampling noise
(on chameleon, filters trained on the whole graph but scored on Random's 31
validation nodes rank at Spearman 0.54 on average against all 730:
``examples/results/hcdc_v2/``). Given, for :math:`M` calibration filters,
which candidate node each model classifies correctly
(:math:`\mathbf{C} \in \{0, 1\}^{M \times N}`) and the accuracy each should
have (:math:`\mathbf{a} \in \mathbb{R}^M`, e.g. on the whole original
validation split), :func:`select_by_agreement` picks a class-balanced set
:math:`U` greedily to maximise Pearson's correlation between
:math:`\frac{1}{|U|} \sum_{u \in U} \mathbf{C}_{:, u}` and
:math:`\mathbf{a}`: the paper's calibration (Definition 1: the condensed
validation loss should order the hyperparameters as the original does),
reached by a selection rather than by gradients. No graph code here.
"""
import torch
from torch import Tensor


def _correlations(sums: Tensor, target: Tensor) -> Tensor:
    """Pearson's correlation of each column of ``sums`` ``(M, N)`` with the
    centred, unit-norm ``target`` ``(M,)``; ``-inf`` for constant
    columns."""
    centred = sums - sums.mean(0, keepdim=True)
    norm = centred.norm(dim=0)
    corr = (target @ centred) / norm.clamp_min(1e-12)
    return torch.where(norm > 1e-12, corr,
                       torch.full_like(corr, float('-inf')))


def select_by_agreement(scores: Tensor, target: Tensor, labels: Tensor,
                        budgets: Tensor) -> Tensor:
    r"""Greedy forward selection of ``budgets[c]`` columns of class ``c``
    (``labels``: the class of each column) from ``scores`` ``(M, N)``, each
    step adding the column that makes the selected columns' mean correlate
    best with ``target`` ``(M,)`` (module docstring). Returns the selected
    column indices in the order chosen. Deterministic (ties: the lowest
    index).

    Raises :class:`ValueError` when a class has fewer columns than its
    budget or ``target`` is constant (nothing to agree with)."""
    M, N = scores.shape
    if target.shape != (M, ) or labels.shape != (N, ):
        raise ValueError(f"scores {tuple(scores.shape)} need a target of "
                         f"shape ({M},) and labels of shape ({N},) (got "
                         f"{tuple(target.shape)} and {tuple(labels.shape)})")
    available = torch.bincount(labels, minlength=budgets.numel())
    if (available[:budgets.numel()] < budgets).any():
        raise ValueError(f"a class has fewer candidates than its budget "
                         f"(candidates {available.tolist()}, budgets "
                         f"{budgets.tolist()})")
    t = (target - target.mean()).double()
    if t.norm() <= 1e-12:
        raise ValueError("the target is constant: every calibration filter "
                         "scores alike, so there is nothing to agree with")
    t = t / t.norm()
    scores = scores.double()
    left = budgets.clone()
    free = torch.ones(N, dtype=torch.bool)
    sums = torch.zeros(M, dtype=torch.double)
    chosen = []
    for _ in range(int(budgets.sum())):
        corr = _correlations(sums.unsqueeze(1) + scores, t)
        allowed = free & (left[labels] > 0)
        corr = torch.where(allowed, corr, torch.full_like(corr,
                                                          float('-inf')))
        best = int(torch.argmax(corr))
        if not bool(allowed[best]):  # every allowed column is constant
            best = int(torch.nonzero(allowed)[0])
        chosen.append(best)
        free[best] = False
        left[labels[best]] -= 1
        sums = sums + scores[:, best]
    return torch.tensor(chosen, dtype=torch.long)


def agreement(scores: Tensor, target: Tensor, columns: Tensor) -> float:
    """Pearson's correlation between the mean of ``scores[:, columns]`` and
    ``target`` (what :func:`select_by_agreement` maximises); NaN when
    either is constant."""
    mean = scores[:, columns].double().mean(1)
    return float(torch.corrcoef(torch.stack([mean, target.double()]))[0, 1])
