"""Image condensers: Random and DC (gradient matching), with the graph
condensers' habits (configuration in ``__init__``, work in ``fit()``,
deterministic per seed, progress bar, cost recorded).

The original training images are split once, by a fixed generator, into a
training part and a validation part of ``real_val_size`` images: the
validation part plays the role of the original validation set (Random draws
its validation images from it; HCDC aligns with its hypergradients).
"""
import hashlib
import random
import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from hcdc_graph import io
from hcdc_graph.checkpoint import (Checkpointed, random_state,
                                   restore_random_state)
from hcdc_graph.image.convnet import ConvNet
from hcdc_graph.image.datasets import ImageDataset
from hcdc_graph.matching import DISTANCES, gradient_distance
from hcdc_graph.profiling import peak_rss_mb, reset_peak_rss

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGE_FORMAT = 'hcdc-graph/condensed-images'


def normalize(x: Tensor) -> Tensor:
    """uint8 ``(N, 3, H, W)`` -> float, standardized per channel."""
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    return (x.float() / 255 - mean) / std


@dataclass
class CondensedImages:
    """A condensed image set: normalized float images and labels of the
    synthetic training (S_train) and validation (S_val) sets, and metadata
    (method, ipc, seed, condense_seconds, condense_peak_rss_mb, ...)."""
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    meta: Dict = field(default_factory=dict)

    def save(self, path) -> None:
        io.save_payload({'train_x': self.train_x, 'train_y': self.train_y,
                         'val_x': self.val_x, 'val_y': self.val_y},
                        self.meta, path, IMAGE_FORMAT)

    @classmethod
    def load(cls, path) -> 'CondensedImages':
        tensors, meta = io.load_payload(path, IMAGE_FORMAT)
        return cls(meta=meta, **tensors)


def split_real(data: ImageDataset, real_val_size: int
               ) -> Tuple[Tensor, Tensor]:
    """Indices of the original training images used for training and for
    validation (a fixed random split, the same for every condenser)."""
    n = data.train_x.size(0)
    if not 0 < real_val_size < n:
        raise ValueError(f"'real_val_size' must be in (0, {n}) (got "
                         f"{real_val_size})")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return perm[real_val_size:], perm[:real_val_size]


class ImageCondenser(Checkpointed):
    """Base class of the image condensers.

    Args:
        data (ImageDataset): e.g. :func:`~hcdc_graph.image.datasets.load_cifar10`.
        ipc (int): synthetic training images per class. (default: 10)
        val_ipc (int, optional): synthetic validation images per class
            (default: ``ipc``).
        seed (int): (default: 0)
        real_val_size (int): original training images held out as the
            original validation set. (default: 5,000)
        progress (bool): show a progress bar. (default: True)
        checkpoint (str, optional): where a condenser that runs for minutes
            (DC) saves its state after every iteration, atomically, so that
            ``fit(resume=True)`` continues after a crash to the same result.
            (default: :obj:`None`)
    """
    method = 'base'

    def __init__(self, data: ImageDataset, ipc: int = 10,
                 val_ipc: Optional[int] = None, seed: int = 0,
                 real_val_size: int = 5000, progress: bool = True,
                 checkpoint: Optional[str] = None):
        if ipc < 1 or (val_ipc is not None and val_ipc < 0):
            raise ValueError(f"'ipc' must be positive and 'val_ipc' "
                             f"non-negative (got {ipc}, {val_ipc})")
        self.data = data
        self.ipc = ipc
        self.val_ipc = ipc if val_ipc is None else val_ipc
        self.seed = seed
        self.num_classes = len(data.classes)
        self.real_val_size = real_val_size
        self.train_index, self.val_index = split_real(data,
                                                      self.real_val_size)
        self.progress = progress
        self.checkpoint = checkpoint
        counts = torch.bincount(data.train_y[self.train_index],
                                minlength=self.num_classes)
        if int(counts.min()) < ipc + self.val_ipc:
            raise ValueError(f"Class {int(counts.argmin())} has only "
                             f"{int(counts.min())} training images, fewer "
                             f"than ipc + val_ipc = {ipc + self.val_ipc}")
        held_out = torch.bincount(data.train_y[self.val_index],
                                  minlength=self.num_classes)
        if int(held_out.min()) < self.val_ipc:
            raise ValueError(f"Class {int(held_out.argmin())} has only "
                             f"{int(held_out.min())} of the {real_val_size} "
                             f"held-out validation images, fewer than "
                             f"val_ipc = {self.val_ipc}: raise "
                             f"'real_val_size'")

    def real_images(self, cls: int, n: int, generator: torch.Generator,
                    part: str = 'train') -> Tensor:
        """``n`` random normalized real images of class ``cls`` from the
        training or validation part."""
        index = self.train_index if part == 'train' else self.val_index
        pool = index[self.data.train_y[index] == cls]
        pick = pool[torch.randperm(pool.numel(), generator=generator)[:n]]
        return normalize(self.data.train_x[pick])

    def data_fingerprint(self) -> str:
        h = hashlib.sha256(str(tuple(self.data.train_x.shape)).encode())
        h.update(self.data.train_x[:64].numpy().tobytes())
        h.update(self.data.train_y.numpy().tobytes())
        return h.hexdigest()[:10]

    def fit(self, resume: bool = False) -> CondensedImages:
        """Condenses; with ``resume=True`` continues from ``checkpoint``."""
        self.start_fit(resume)
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        reset_peak_rss()
        start = time.perf_counter()
        out = self._condense()
        seconds = time.perf_counter() - start
        self.end_fit()
        for name in ('train_x', 'val_x'):
            if not torch.isfinite(getattr(out, name)).all():
                raise ArithmeticError(f"{type(self).__name__} produced NaN "
                                      f"or infinite images; lower the "
                                      f"learning rate")
        out.meta.update(method=self.method, ipc=self.ipc,
                        val_ipc=self.val_ipc, seed=self.seed,
                        condense_seconds=seconds,
                        condense_peak_rss_mb=peak_rss_mb())
        self.condensed_ = out
        return out

    def _condense(self) -> CondensedImages:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ipc={self.ipc}, '
                f'val_ipc={self.val_ipc}, seed={self.seed})')


def labels(num_classes: int, per_class: int) -> Tensor:
    return torch.arange(num_classes).repeat_interleave(per_class)


class RandomImageCondenser(ImageCondenser):
    """Random real images per class: ``ipc`` training images from the
    training part and ``val_ipc`` validation images from the validation
    part."""
    method = 'random'

    def _condense(self) -> CondensedImages:
        gen = torch.Generator().manual_seed(self.seed)
        c = range(self.num_classes)
        return CondensedImages(
            torch.cat([self.real_images(k, self.ipc, gen) for k in c]),
            labels(self.num_classes, self.ipc),
            torch.cat([self.real_images(k, self.val_ipc, gen, 'val')
                       for k in c]),
            labels(self.num_classes, self.val_ipc))


class DCCondenser(ImageCondenser):
    r"""Dataset condensation with gradient matching (Zhao et al., 2021).

    Each iteration draws a fresh :class:`ConvNet`. For ``outer_loop``
    steps: per class, the gradient of the cross-entropy on ``real_batch``
    real images of the class is matched (distance ``'ours'``: per output row
    :math:`1-\cos`) with the gradient on the synthetic images of the class,
    the images take an SGD step (lr ``lr_images``, momentum 0.5), then the
    network trains ``inner_loop`` steps on the synthetic images.

    ``ipc + val_ipc`` images per class are learned (initialised from real
    training images) and split at random into S_train and S_val, as for the
    graph baselines.

    **Budget.** The published recipe (``iterations=1000, real_batch=256,
    width=128, outer_loop=10, inner_loop=50`` at 10 images per class) takes
    about 48 hours on 2 CPU cores. The defaults here are a CPU budget:
    ``iterations=100, real_batch=64, width=32, outer_loop=10, inner_loop=5``.
    The inner loop (network training on the synthetic images between
    matching steps) is 80 % of an iteration's time with 50 steps (68 s per
    iteration at 10 + 10 images per class, 2 cores); 5 steps keep all
    1,000 matching steps. Pass the published values on a GPU.
    """
    method = 'dc'

    def __init__(self, data: ImageDataset, ipc: int = 10,
                 val_ipc: Optional[int] = None, seed: int = 0,
                 real_val_size: int = 5000, progress: bool = True,
                 iterations: int = 100, real_batch: int = 64,
                 width: int = 32, outer_loop: int = 10,
                 inner_loop: int = 5, lr_images: float = 0.1,
                 lr_net: float = 0.01, distance: str = 'ours',
                 checkpoint: Optional[str] = None):
        super().__init__(data, ipc, val_ipc, seed, real_val_size, progress,
                         checkpoint)
        if distance not in DISTANCES:
            raise ValueError(f"Unknown distance '{distance}'; choose one of "
                             f"{', '.join(DISTANCES)}")
        for name, value in (('iterations', iterations),
                            ('real_batch', real_batch), ('width', width),
                            ('outer_loop', outer_loop)):
            if value < 1:
                raise ValueError(f"'{name}' must be positive (got {value})")
        self.iterations, self.real_batch, self.width = iterations, \
            real_batch, width
        self.outer_loop, self.inner_loop = outer_loop, inner_loop
        self.lr_images, self.lr_net, self.distance = lr_images, lr_net, \
            distance

    def _condense(self) -> CondensedImages:
        gen = torch.Generator().manual_seed(self.seed)
        per_class = self.ipc + self.val_ipc
        y = labels(self.num_classes, per_class)
        x = torch.cat([self.real_images(k, per_class, gen)
                       for k in range(self.num_classes)]).requires_grad_()
        opt = torch.optim.SGD([x], lr=self.lr_images, momentum=0.5)
        net = ConvNet(self.num_classes, self.width)
        self.loss_history_ = []
        first = 0
        state = self.resumed_state()
        if state is not None:
            with torch.no_grad():
                x.copy_(state['x'])
            opt.load_state_dict(state['optimizer'])
            restore_random_state(state, gen)
            self.loss_history_ = list(state['loss_history'])
            first = state['iteration'] + 1
        bar = tqdm(range(first, self.iterations), initial=first,
                   total=self.iterations, desc='dc condensation',
                   disable=not self.progress)
        for iteration in bar:
            net.reset_parameters()
            net_opt = torch.optim.SGD(net.parameters(), lr=self.lr_net)
            params = [p for p in net.parameters()]
            total = 0.0
            for step in range(self.outer_loop):
                loss = 0.0
                for k in range(self.num_classes):
                    real = self.real_images(k, self.real_batch, gen)
                    target = torch.full((real.size(0), ), k)
                    g_real = torch.autograd.grad(
                        F.cross_entropy(net(real), target), params)
                    mask = y == k
                    g_syn = torch.autograd.grad(
                        F.cross_entropy(net(x[mask]), y[mask]), params,
                        create_graph=True)
                    loss = loss + gradient_distance(
                        [g.detach() for g in g_real], g_syn, self.distance)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) / self.outer_loop
                if step == self.outer_loop - 1:
                    break
                syn = x.detach()
                for _ in range(self.inner_loop):
                    net_opt.zero_grad()
                    F.cross_entropy(net(syn), y).backward()
                    net_opt.step()
            self.loss_history_.append(total)
            bar.set_postfix(loss=f'{total:.3f}')
            self.save_state({'iteration': iteration, 'x': x.detach(),
                             'optimizer': opt.state_dict(),
                             **random_state(gen),
                             'loss_history': self.loss_history_})
        return split_per_class(x.detach(), y, self.ipc, gen)


def split_per_class(x: Tensor, y: Tensor, ipc: int,
                    generator: torch.Generator) -> CondensedImages:
    """A random split of every class's images into ``ipc`` training images
    and the rest as validation images."""
    train, val = [], []
    for k in y.unique().tolist():
        idx = torch.where(y == k)[0]
        idx = idx[torch.randperm(idx.numel(), generator=generator)]
        train.append(idx[:ipc])
        val.append(idx[ipc:])
    train, val = torch.cat(train), torch.cat(val)
    return CondensedImages(x[train], y[train], x[val], y[val])
