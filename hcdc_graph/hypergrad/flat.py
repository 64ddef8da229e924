"""Flattening sequences of tensors into one vector and back."""
from typing import Sequence, Tuple

import torch
from torch import Tensor


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenates ``tensors`` into one 1-D vector."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: Tensor, like: Sequence[Tensor]) -> Tuple[Tensor, ...]:
    """Splits ``vector`` into tensors shaped like ``like``."""
    out, i = [], 0
    for t in like:
        out.append(vector[i:i + t.numel()].view_as(t))
        i += t.numel()
    return tuple(out)


def grads_or_zeros(grads: Sequence, like: Sequence[Tensor]
                   ) -> Tuple[Tensor, ...]:
    """Replaces the ``None`` of ``torch.autograd.grad(..., allow_unused=True)``
    with zeros (a loss that does not depend on a tensor has zero gradient)."""
    return tuple(torch.zeros_like(t) if g is None else g
                 for g, t in zip(grads, like))
