r"""NAS-Bench-201 networks: the discrete :class:`TinyNetwork` and the
continuous relaxation :class:`SuperNetwork`, whose forward takes the
architecture weights as an argument so that hypergradients reach them.

Macro skeleton (NAS-Bench-201): stem Conv3x3(3 -> C) + BN; N cells at C; a
ResNet reduction block to 2C; N cells; a reduction to 4C; N cells;
BN -> ReLU -> global average pool -> Linear. NAS-Bench-201 trains C=16, N=5;
search and ranking use N=1 (3 cells instead of 15).

Cell node :math:`j` sums its incoming edges,
:math:`h_j = \sum_{i<j} o_{ij}(h_i)`, and the cell outputs node 3. In the
supernet every edge mixes all operations,
:math:`o_{ij}(h) = \sum_k w_{(ij),k}\, o_k(h)`, with :math:`w` a
:math:`6 \times 5` tensor given to :meth:`SuperNetwork.forward` (e.g.
``softmax(alpha, -1)`` for DARTS, or exactly one-hot for a discrete cell).
"""
import copy
from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hcdc_graph.image.nasbench201 import EDGES, OPS, parse_arch, _check_arch


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BatchNorm."""
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                      padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels))


class Zero(nn.Module):
    """The 'none' operation: zeros of the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    """One NAS-Bench-201 operation at stride 1 with ``channels`` in and
    out."""
    if name == 'none':
        return Zero()
    if name == 'skip_connect':
        return nn.Identity()
    if name == 'nor_conv_1x1':
        return ReLUConvBN(channels, channels, 1)
    if name == 'nor_conv_3x3':
        return ReLUConvBN(channels, channels, 3)
    if name == 'avg_pool_3x3':
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"Unknown operation '{name}'; choose one of {OPS}")


class ResNetBasicBlock(nn.Module):
    """The reduction block: two ReLUConvBN 3x3 (the first with stride 2)
    plus a shortcut AvgPool 2x2 -> Conv1x1."""
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, stride=2)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2),
            nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class Cell(nn.Module):
    """A discrete cell: one operation per edge."""
    def __init__(self, arch: Sequence[int], channels: int):
        super().__init__()
        self.arch = _check_arch(arch)
        self.edges = nn.ModuleList(make_op(OPS[k], channels)
                                   for k in self.arch)

    def forward(self, x: Tensor) -> Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(self.edges[e](nodes[i])
                             for e, (dst, i) in enumerate(EDGES)
                             if dst == j))
        return nodes[3]


class MixedCell(nn.Module):
    """A supernet cell: every edge holds all operations, mixed by a row of
    the architecture weights."""
    def __init__(self, channels: int):
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(name, channels) for name in OPS)
            for _ in EDGES)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(
                sum(w * op(nodes[i])
                    for w, op in zip(weights[e], self.edges[e]))
                for e, (dst, i) in enumerate(EDGES) if dst == j))
        return nodes[3]


class _Skeleton(nn.Module):
    def __init__(self, C: int, N: int, num_classes: int, make_cell):
        super().__init__()
        if C < 1 or N < 1 or num_classes < 2:
            raise ValueError(f"Need C >= 1, N >= 1 and num_classes >= 2 "
                             f"(got C={C}, N={N}, num_classes={num_classes})")
        self.C, self.N, self.num_classes = C, N, num_classes
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C))
        layers = []
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                layers.append(ResNetBasicBlock(width // 2, width))
            layers.extend(make_cell(width) for _ in range(N))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, num_classes)

    def reset_parameters(self):
        for module in self.modules():
            if module is not self and hasattr(module, 'reset_parameters'):
                module.reset_parameters()

    def _head(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(self.lastact(x), 1).flatten(1)
        return self.classifier(x)


class TinyNetwork(_Skeleton):
    r"""The NAS-Bench-201 network of one cell architecture.

    Args:
        arch (str or Sequence[int]): NAS-Bench-201 string or 6 operation
            indices.
        C (int, optional): stem width. (default: :obj:`16`)
        N (int, optional): cells per stage. (default: :obj:`1`; the
            benchmark's networks have 5)
        num_classes (int, optional): (default: :obj:`10`)
    """
    def __init__(self, arch, C: int = 16, N: int = 1,
                 num_classes: int = 10):
        arch = parse_arch(arch) if isinstance(arch, str) else \
            _check_arch(arch)
        super().__init__(C, N, num_classes, lambda w: Cell(arch, w))
        self.arch = arch

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self._head(x)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(arch={self.arch}, C={self.C}, '
                f'N={self.N}, num_classes={self.num_classes})')


class SuperNetwork(_Skeleton):
    r"""The continuous relaxation of the NAS-Bench-201 space: all cells
    share one :math:`6 \times 5` weight tensor passed to :meth:`forward`.

    With exactly one-hot weights (:func:`~hcdc_graph.image.nasbench201.one_hot`)
    it computes the same function as :meth:`extract` of that architecture:
    the unselected operations are multiplied by exactly 0.
    """
    def __init__(self, C: int = 16, N: int = 1, num_classes: int = 10):
        super().__init__(C, N, num_classes, MixedCell)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        if weights.shape != (len(EDGES), len(OPS)):
            raise ValueError(f"Architecture weights must have shape "
                             f"({len(EDGES)}, {len(OPS)}), got "
                             f"{tuple(weights.shape)}")
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, weights) if isinstance(cell, MixedCell) else cell(x)
        return self._head(x)

    def extract(self, arch) -> TinyNetwork:
        """The discrete network of ``arch`` with this supernet's weights
        (copies)."""
        net = TinyNetwork(arch, self.C, self.N, self.num_classes)
        for name, child in self.named_children():
            if name != 'cells':
                setattr(net, name, copy.deepcopy(child))
        for i, (mine, theirs) in enumerate(zip(self.cells, net.cells)):
            if isinstance(mine, MixedCell):
                for e, k in enumerate(net.arch):
                    theirs.edges[e] = copy.deepcopy(mine.edges[e][k])
            else:
                net.cells[i] = copy.deepcopy(mine)
        return net

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(C={self.C}, N={self.N}, '
                f'num_classes={self.num_classes})')


def batch_statistics(net: nn.Module, params: Sequence[Tensor],
                     *inputs: Tensor) -> Dict[str, Tensor]:
    r"""The statistics every BatchNorm of ``net`` sees in a training-mode
    forward of ``inputs`` with parameters ``params`` (in the order of
    ``net.parameters()``, as the loss closures take them): per channel the
    mean and unbiased variance of its input, named like the
    ``running_mean`` / ``running_var`` buffers they stand for.

    Passed to :func:`torch.func.functional_call` with ``net`` in eval mode,
    they normalise any batch the way a network trained full batch on
    ``inputs`` normalises at evaluation (its running statistics converge to
    these), instead of by the batch's own statistics as training mode does.
    Computed without gradient: the result is a constant for the caller.
    """
    captured = {}

    def hook(name):
        def capture(module, args):
            x = args[0].detach()
            captured[f'{name}.running_mean'] = x.mean((0, 2, 3))
            captured[f'{name}.running_var'] = x.var((0, 2, 3),
                                                    unbiased=True)
        return capture

    handles = [module.register_forward_pre_hook(hook(name))
               for name, module in net.named_modules()
               if isinstance(module, nn.BatchNorm2d)]
    # Copies of the buffers, so that the forward leaves net's own untouched.
    tensors = {**{n: b.clone() for n, b in net.named_buffers()},
               **{n: p for (n, _), p in zip(net.named_parameters(), params)}}
    training = net.training
    try:
        net.train()
        with torch.no_grad():
            torch.func.functional_call(net, tensors, inputs)
    finally:
        net.train(training)
        for handle in handles:
            handle.remove()
    return captured


__all__ = ['TinyNetwork', 'SuperNetwork', 'Cell', 'MixedCell',
           'ResNetBasicBlock', 'ReLUConvBN', 'make_op', 'batch_statistics']
