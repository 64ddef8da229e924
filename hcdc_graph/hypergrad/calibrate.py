"""Building blocks of hyperparameter calibration (HCDC), shared by the graph
and image condensers: pure functions of loss closures and tensors."""
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from hcdc_graph.hypergrad.implicit import Loss, hypergradient

# (hyperparameter, trained parameters, target hypergradient flattened)
Point = Tuple[Tensor, Sequence[Tensor], Tensor]


def train_params(train_loss: Loss, params: Sequence[Tensor],
                 hparams: Sequence[Tensor], steps: int,
                 lr: float = 0.01) -> List[Tensor]:
    """``steps`` Adam steps on copies of ``params`` with ``hparams`` fixed;
    returns the trained copies, detached."""
    params = [p.detach().clone().requires_grad_(True) for p in params]
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        train_loss(params, hparams).backward()
        opt.step()
    return [p.detach() for p in params]


def align_epoch(points: Sequence[Point],
                losses: Callable[[int], Tuple[Loss, Loss]], solver,
                optimizer: torch.optim.Optimizer, points_per_step: int,
                generator: torch.Generator) -> float:
    r"""One pass over the search-space ``points`` in random mini-batches of
    ``points_per_step``: per batch, the mean of
    :math:`1 - \cos(g_{target}, \nabla_\lambda \mathcal{L}^*_S(\lambda))`
    is back-propagated (one point at a time, so memory stays flat) into the
    tensors ``optimizer`` updates, and the optimizer steps.

    ``losses(i)`` returns the synthetic ``(train_loss, val_loss)`` of point
    ``i``, built from the current learnable tensors (point-specific when the
    validation loss depends on more than the point's parameters, e.g. fixed
    BatchNorm statistics). Returns the mean :math:`1 - \cos` over the
    points.
    """
    total = 0.0
    order = torch.randperm(len(points), generator=generator).tolist()
    for start in range(0, len(order), points_per_step):
        batch = order[start:start + points_per_step]
        optimizer.zero_grad()
        for i in batch:
            hparam, params, target = points[i]
            train_loss, val_loss = losses(i)
            g_s, = hypergradient(train_loss, val_loss, params, [hparam],
                                 solver, create_graph=True)
            loss = 1 - F.cosine_similarity(target, g_s.flatten(), dim=0,
                                           eps=1e-12)
            (loss / len(batch)).backward()
            total += float(loss.detach()) / len(points)
        optimizer.step()
    return total
