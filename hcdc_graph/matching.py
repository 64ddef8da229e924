"""Gradient-matching distances (GCond on graphs, DC on images; no graph
code)."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

DISTANCES = ('ours', 'mse', 'cos')


def gradient_distance(real: Sequence[Tensor], syn: Sequence[Tensor],
                      kind: str = 'ours') -> Tensor:
    r"""Distance between two lists of gradients (one per weight tensor).

    - ``'ours'`` (GCond/DC): per weight matrix, :math:`\sum_o 1 -
      \cos(g_{:,o}, g'_{:,o})` over output units :math:`o` (rows of a
      ``(out, in)`` matrix); 1-D tensors (biases) are ignored.
    - ``'mse'``: :math:`\sum \|g - g'\|^2` over all tensors.
    - ``'cos'``: :math:`1 - \cos` of the concatenated flattened gradients.
    """
    if kind not in DISTANCES:
        raise ValueError(f"Unknown distance '{kind}'; choose one of "
                         f"{', '.join(DISTANCES)}")
    if kind == 'mse':
        return sum(((r - s) ** 2).sum() for r, s in zip(real, syn))
    if kind == 'cos':
        r = torch.cat([t.flatten() for t in real])
        s = torch.cat([t.flatten() for t in syn])
        return 1 - F.cosine_similarity(r, s, dim=0, eps=1e-8)
    total = 0.0
    for r, s in zip(real, syn):
        if r.dim() == 1:
            continue
        r, s = r.reshape(r.size(0), -1), s.reshape(s.size(0), -1)
        total = total + (1 - F.cosine_similarity(r, s, dim=1,
                                                 eps=1e-6)).sum()
    return total
