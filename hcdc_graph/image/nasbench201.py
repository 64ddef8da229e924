"""The NAS-Bench-201 cell search space: architecture strings, their indices,
sampling, and the offline ground-truth accuracy table.

A cell has 4 nodes and 6 edges ``(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)``;
each edge carries one of :data:`OPS`, so there are :math:`5^6 = 15{,}625`
cells. An architecture is written as a tuple of 6 operation indices (one per
edge, in :data:`EDGES` order) or as NAS-Bench-201's string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

NAS-Bench-201 numbers the cells by enumerating them with the first edge as
the most significant digit and the operations in :data:`OPS` order, then
shuffling that list with Python's ``random`` seeded with 88;
:func:`index_to_arch` reproduces that order (checked against every row of
the offline table in the tests).
"""
import csv
import itertools
import os.path as osp
import random
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3',
       'avg_pool_3x3')
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_ARCHS = len(OPS) ** len(EDGES)
GROUND_TRUTH_FILE = osp.join('nasbench201',
                             'nats_bench_tss_200ep_test_acc.csv')
_COLUMNS = {'cifar10': 'CIFAR10TestAccuracy200Epochs',
            'cifar100': 'CIFAR100TestAccuracy200Epochs',
            'imagenet16-120': 'ImageNetTestAccuracy200Epochs'}

Arch = Tuple[int, ...]


@lru_cache(maxsize=1)
def _benchmark_order() -> Tuple[Arch, ...]:
    archs = list(itertools.product(range(len(OPS)), repeat=len(EDGES)))
    random.Random(88).shuffle(archs)
    return tuple(archs)


@lru_cache(maxsize=1)
def _index_of() -> Dict[Arch, int]:
    return {arch: i for i, arch in enumerate(_benchmark_order())}


def arch_to_string(arch: Sequence[int]) -> str:
    """``(3, 3, 0, 1, 3, 4)`` -> ``'|nor_conv_3x3~0|+|...|'``."""
    arch = _check_arch(arch)
    nodes, k = [], 0
    for node in (1, 2, 3):
        ops = [f'{OPS[arch[k + j]]}~{j}' for j in range(node)]
        nodes.append('|' + '|'.join(ops) + '|')
        k += node
    return '+'.join(nodes)


def parse_arch(text: str) -> Arch:
    """A NAS-Bench-201 string -> the tuple of 6 operation indices."""
    nodes = text.strip().split('+')
    ops = []
    if len(nodes) != 3:
        raise ValueError(f"Not a NAS-Bench-201 architecture string (3 "
                         f"'+'-separated nodes expected): '{text}'")
    for node, part in enumerate(nodes, start=1):
        items = [s for s in part.split('|') if s]
        if len(items) != node:
            raise ValueError(f"Node {node} of '{text}' must have {node} "
                             f"inputs, got {len(items)}")
        for j, item in enumerate(items):
            op, _, src = item.partition('~')
            if op not in OPS or src != str(j):
                raise ValueError(f"Bad edge '{item}' in '{text}' (expected "
                                 f"'<op>~{j}' with <op> in {OPS})")
            ops.append(OPS.index(op))
    return tuple(ops)


def index_to_arch(index: int) -> str:
    """NAS-Bench-201 index (0..15624) -> architecture string."""
    if not 0 <= int(index) < NUM_ARCHS:
        raise ValueError(f"index must be in [0, {NUM_ARCHS}) (got {index})")
    return arch_to_string(_benchmark_order()[int(index)])


def arch_to_index(arch) -> int:
    """Architecture string or index tuple -> NAS-Bench-201 index."""
    if isinstance(arch, str):
        arch = parse_arch(arch)
    return _index_of()[_check_arch(arch)]


def sample_architectures(n: int, seed: int = 0) -> List[int]:
    """``n`` distinct NAS-Bench-201 indices, uniformly at random."""
    if not 1 <= n <= NUM_ARCHS:
        raise ValueError(f"'n' must be in [1, {NUM_ARCHS}] (got {n})")
    return sorted(random.Random(seed).sample(range(NUM_ARCHS), n))


def one_hot(arch) -> Tensor:
    """The :math:`6 \\times 5` architecture weights selecting ``arch``
    (exactly 0/1: pass them to the supernet as they are, not through a
    softmax)."""
    if isinstance(arch, str):
        arch = parse_arch(arch)
    arch = _check_arch(arch)
    weights = torch.zeros(len(EDGES), len(OPS))
    weights[torch.arange(len(EDGES)), torch.tensor(arch)] = 1.0
    return weights


def load_ground_truth(path: Optional[str] = None,
                      dataset: str = 'cifar10') -> Tensor:
    """Test accuracy (percent, 200 epochs) of every cell, indexed by
    NAS-Bench-201 index, for ``dataset`` in ``cifar10``, ``cifar100``,
    ``imagenet16-120``. ``path`` defaults to
    ``<data root>/nasbench201/nats_bench_tss_200ep_test_acc.csv``."""
    from hcdc_graph.paths import data_root
    if dataset not in _COLUMNS:
        raise ValueError(f"Unknown dataset '{dataset}'; choose one of "
                         f"{', '.join(_COLUMNS)}")
    path = path or osp.join(data_root(None), GROUND_TRUTH_FILE)
    if not osp.exists(path):
        raise FileNotFoundError(
            f"No NAS-Bench-201 table at '{path}': expected a CSV with columns "
            f"{', '.join(_COLUMNS.values())}, ArchitectureString (row k = "
            f"index k); set $HCDC_DATA or pass 'path'")
    rows = read_table(path)
    if len(rows) != NUM_ARCHS:
        raise ValueError(f"'{path}' has {len(rows)} rows, expected "
                         f"{NUM_ARCHS}")
    return torch.tensor([float(r[_COLUMNS[dataset]]) for r in rows],
                        dtype=torch.float64)


def read_table(path: str) -> List[Dict[str, str]]:
    """The rows of the NAS-Bench-201 CSV as dictionaries."""
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def _check_arch(arch: Sequence[int]) -> Arch:
    arch = tuple(int(a) for a in arch)
    if len(arch) != len(EDGES) or not all(0 <= a < len(OPS) for a in arch):
        raise ValueError(f"An architecture is {len(EDGES)} operation indices "
                         f"in [0, {len(OPS)}) (got {arch})")
    return arch


__all__ = ['OPS', 'EDGES', 'NUM_ARCHS', 'arch_to_string', 'parse_arch',
           'index_to_arch', 'arch_to_index', 'sample_architectures',
           'one_hot', 'load_ground_truth', 'read_table']
