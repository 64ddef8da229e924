"""Continuous hyperparameter optimization along hypergradients."""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from hcdc_graph.hypergrad.implicit import Loss, hypergradient


@dataclass
class HPOResult:
    """What :func:`optimize_hyperparameters` found.

    Attributes:
        hparams: the final hyperparameters.
        params: the parameters trained at the final hyperparameters.
        trajectory: the hyperparameters before the first and after every
            hyperparameter step (``outer_steps + 1`` entries).
        val_losses: the validation loss before every hyperparameter step.
    """
    hparams: Tuple[Tensor, ...]
    params: Tuple[Tensor, ...]
    trajectory: List[Tuple[Tensor, ...]] = field(default_factory=list)
    val_losses: List[float] = field(default_factory=list)


def optimize_hyperparameters(
    train_loss: Loss, val_loss: Loss, params: Sequence[Tensor],
    hparams: Sequence[Tensor], outer_steps: int = 50, inner_steps: int = 20,
    inner_lr: float = 0.01, hyper_lr: float = 0.01, warmup_steps: int = 0,
    solver=None, project: Optional[Callable[[Sequence[Tensor]], None]] = None,
    progress: bool = False
) -> HPOResult:
    r"""Gradient-based hyperparameter optimization with implicit
    hypergradients (Lorraine et al., 2020).

    After ``warmup_steps`` parameter steps, it alternates ``inner_steps``
    Adam steps on ``train_loss`` w.r.t. the parameters (warm-started from
    the previous ones, :math:`\lambda` fixed) with one Adam step on the
    hyperparameters along :func:`hypergradient`. ``project`` (optional) is
    called on the hyperparameter tensors after each step, in place, under
    ``no_grad`` (e.g. to clamp a range).

    ``params`` and ``hparams`` are not modified: copies are optimized and
    returned in the :class:`HPOResult`, with the trajectory of
    :math:`\lambda`. Used to pick the best filter on condensed data, and to
    build HCDC's extended search space (trajectories from sampled
    :math:`\lambda`).
    """
    if outer_steps < 0 or inner_steps < 0 or warmup_steps < 0:
        raise ValueError("step counts must be non-negative")
    params = [p.detach().clone().requires_grad_(True) for p in params]
    hparams = [h.detach().clone().requires_grad_(True) for h in hparams]
    inner = torch.optim.Adam(params, lr=inner_lr)
    outer = torch.optim.Adam(hparams, lr=hyper_lr)

    def train(steps: int) -> None:
        frozen = [h.detach() for h in hparams]
        for _ in range(steps):
            inner.zero_grad()
            loss = train_loss(params, frozen)
            if not torch.isfinite(loss):
                raise ArithmeticError(f"The training loss became {float(loss)}"
                                      f" during hyperparameter optimization")
            loss.backward()
            inner.step()

    train(warmup_steps)
    result = HPOResult(hparams=(), params=(),
                       trajectory=[tuple(h.detach().clone() for h in hparams)])
    for _ in tqdm(range(outer_steps), desc='hyperparameter steps',
                  disable=not progress):
        train(inner_steps)
        with torch.no_grad():
            result.val_losses.append(float(val_loss(params, hparams)))
        grads = hypergradient(train_loss, val_loss, params, hparams, solver)
        outer.zero_grad()
        for h, g in zip(hparams, grads):
            h.grad = g
        outer.step()
        if project is not None:
            with torch.no_grad():
                project(hparams)
        result.trajectory.append(tuple(h.detach().clone() for h in hparams))
    train(inner_steps)
    result.hparams = tuple(h.detach() for h in hparams)
    result.params = tuple(p.detach() for p in params)
    return result
