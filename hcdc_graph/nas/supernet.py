r"""A softmax relaxation of the NAS-Bench-Graph op choices (the graph
analogue of the image submodule's DARTS super-network), so that
:class:`~hcdc_graph.condense.HCDCCondenser` can calibrate S_val for an
architecture space instead of a filter space (``space='nas-bench-graph'``).
"""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hcdc_graph.nas.bench import LINKS, OPS, BenchArch, _op, unit_as_none


class BenchSupernet(torch.nn.Module):
    r"""Every op of :data:`~hcdc_graph.nas.bench.OPS` at each of the four
    computing nodes of one link pattern, mixed by architecture weights:

    .. math::
        \mathbf{H}_i = \sum_{o} \mathrm{softmax}(\boldsymbol\alpha_i)_o \,
        o\big(\mathbf{H}_{\mathrm{link}_i}\big), \qquad
        \mathbf{H}_0 = \mathbf{X} \mathbf{W}_{in},

    each op followed by ReLU as in :class:`~hcdc_graph.nas.bench.BenchNet`
    (``skip`` is the identity), the leaves concatenated, one hidden linear
    layer and a classifier. A one-hot :math:`\boldsymbol\alpha` of large
    magnitude is one architecture of the space. Unlike ``BenchNet`` the
    input is first mapped to the width by :math:`\mathbf{W}_{in}`, so that
    ``skip`` at a node reading the input has the width of the other ops;
    no dropout, so that the losses the hypergradients differentiate are
    deterministic. Edge weights are used as ``BenchNet`` uses them.

    Args:
        link (tuple): one of the nine link patterns
            (:data:`~hcdc_graph.nas.bench.LINKS`).
        in_channels (int), num_classes (int): input and output sizes.
        dim (int, optional): the width of every op. (default: :obj:`64`)
    """
    def __init__(self, link: Sequence[int], in_channels: int,
                 num_classes: int, dim: int = 64):
        super().__init__()
        if tuple(link) not in LINKS:
            raise ValueError(f"link {tuple(link)} is not one of the nine "
                             f"canonical patterns {LINKS}")
        self.link, self.in_channels, self.num_classes, self.dim = \
            tuple(link), in_channels, num_classes, dim
        self.lin = torch.nn.Linear(in_channels, dim)
        self.ops = torch.nn.ModuleList(
            torch.nn.ModuleList(_op(name, dim, dim) for name in OPS)
            for _ in self.link)
        self.leaves = [i + 1 for i in range(4) if i + 1 not in self.link]
        self.hidden = torch.nn.Linear(len(self.leaves) * dim, dim)
        self.classifier = torch.nn.Linear(dim, num_classes)

    def reset_parameters(self):
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: Optional[Tensor] = None,
                alpha: Optional[Tensor] = None) -> Tensor:
        """``alpha``: architecture logits of shape ``(4, len(OPS))``."""
        edge_weight = unit_as_none(edge_weight)
        if alpha is None or alpha.shape != (4, len(OPS)):
            raise ValueError(f"'alpha' must have shape (4, {len(OPS)}) "
                             f"(got {None if alpha is None else alpha.shape})")
        weights = alpha.softmax(-1)
        outputs = [self.lin(x)]
        for i, (link, ops) in enumerate(zip(self.link, self.ops)):
            h = outputs[link]
            mixed = 0
            for j, (name, op) in enumerate(zip(OPS, ops)):
                out = h if name == 'skip' else F.relu(
                    op(h) if name == 'fc' else op(h, edge_index, edge_weight))
                mixed = mixed + weights[i, j] * out
            outputs.append(mixed)
        h = torch.cat([outputs[i] for i in self.leaves], dim=-1)
        return self.classifier(F.relu(self.hidden(h)))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(link={self.link}, '
                f'{self.in_channels}, {self.num_classes}, dim={self.dim})')


def one_hot_alpha(arch: BenchArch, temperature: float = 3.0) -> Tensor:
    """``temperature`` times the one-hot op choices of ``arch``, shape
    ``(4, len(OPS))``."""
    alpha = torch.zeros(4, len(OPS))
    alpha[torch.arange(4), [OPS.index(op) for op in arch.ops]] = temperature
    return alpha


def sample_space(n: int, generator: torch.Generator) -> List[BenchArch]:
    """``n`` architectures drawn uniformly from the whole space (a link
    pattern and four ops each), without the table: calibration points
    never look at the benchmark's accuracies."""
    if n < 1:
        raise ValueError(f"Cannot sample {n} architectures")
    links = torch.randint(len(LINKS), (n, ), generator=generator)
    ops = torch.randint(len(OPS), (n, 4), generator=generator)
    return [BenchArch(LINKS[int(l)], tuple(OPS[int(o)] for o in row))
            for l, row in zip(links, ops)]


__all__ = ['BenchSupernet', 'one_hot_alpha', 'sample_space']
