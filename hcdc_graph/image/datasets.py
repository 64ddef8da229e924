"""CIFAR-10/100 as uint8 tensors, read offline without executing code.

Sources, in order of preference, under the data root (``root``, else
``$HCDC_DATA``, else ``./datasets``):

1. the official ``cifar-10-batches-py`` folder (``cifar-100-python`` for
   CIFAR-100), directly under the root or under ``cifar10/``; its pickles are
   read with an unpickler that only admits the numpy types they contain;
2. an ImageFolder tree ``cifar10/{train,test}/<class>/*.jpg`` (classes in
   sorted order, which is CIFAR-10's label order);
3. a ``.tar.gz`` of such a tree in ``cifar10/`` (this project's offline
   copy).

Decoding 60,000 JPEGs takes a while, so the decoded tensors are cached in
the writable cache (``$HCDC_CACHE``), keyed by the source's path, size and
modification time, and read back with ``torch.load(weights_only=True)``.
"""
import hashlib
import io
import os
import os.path as osp
import pickle
import tarfile
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from hcdc_graph.io import restricted_load
from hcdc_graph.paths import cache_dir, data_root, exclusive_lock

CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                   'frog', 'horse', 'ship', 'truck')
_IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


class ImageDataset(NamedTuple):
    """Images as uint8 ``(N, 3, 32, 32)`` tensors and int64 labels."""
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: Tuple[str, ...]


class ImageDataError(ValueError):
    """A dataset file that cannot be read (corrupt, truncated, unsafe)."""


# The CIFAR pickles hold dicts of numpy arrays, lists and bytes: exactly
# the callables that rebuild those, nothing else.
CIFAR_GLOBALS = frozenset({
    'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
    'numpy.ndarray', 'numpy.dtype', '_codecs.encode'})


def read_batch(path: str) -> dict:
    """One official CIFAR pickle, read without executing code from it."""
    try:
        with open(path, 'rb') as f:
            return restricted_load(f, CIFAR_GLOBALS, path, encoding='bytes')
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, IndexError) as e:
        raise ImageDataError(f"'{path}' is not a readable CIFAR batch "
                             f"(corrupt, truncated or unsafe): {e}") from None


def _batches_to_tensors(paths: List[str], label_key: bytes
                        ) -> Tuple[Tensor, Tensor]:
    xs, ys = [], []
    for path in paths:
        batch = read_batch(path)
        if b'data' not in batch or label_key not in batch:
            raise ImageDataError(f"'{path}' lacks 'data' or "
                                 f"'{label_key.decode()}'")
        xs.append(np.asarray(batch[b'data'], dtype=np.uint8)
                  .reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), \
        torch.from_numpy(np.concatenate(ys))


def _decode(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as img:
            array = np.asarray(img.convert('RGB'), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise ImageDataError(f"cannot decode image '{name}': {e}") from None
    if array.shape != (32, 32, 3):
        raise ImageDataError(f"image '{name}' is {array.shape[1]}x"
                             f"{array.shape[0]}, expected 32x32")
    return array.transpose(2, 0, 1)


def _stack(items: List[Tuple[str, str, bytes]], classes: Tuple[str, ...],
           where: str) -> Tuple[Tensor, Tensor]:
    if not items:
        raise ImageDataError(f"no images found in {where}")
    items.sort(key=lambda t: (t[0], t[1]))  # a stable order: class, name
    x = np.stack([_decode(data, name) for _, name, data in items])
    y = np.array([classes.index(c) for c, _, _ in items], dtype=np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def _read_tree(folder: str) -> ImageDataset:
    splits: Dict[str, List[Tuple[str, str, bytes]]] = {}
    classes = tuple(sorted(d for d in os.listdir(osp.join(folder, 'train'))
                           if osp.isdir(osp.join(folder, 'train', d))))
    for split in ('train', 'test'):
        items = []
        for c in classes:
            path = osp.join(folder, split, c)
            for name in sorted(os.listdir(path)) if osp.isdir(path) else []:
                if name.lower().endswith(_IMAGE_SUFFIXES):
                    with open(osp.join(path, name), 'rb') as f:
                        items.append((c, name, f.read()))
        splits[split] = items
    return ImageDataset(*_stack(splits['train'], classes, folder),
                        *_stack(splits['test'], classes, folder), classes)


def _read_tarball(path: str) -> ImageDataset:
    splits: Dict[str, List[Tuple[str, str, bytes]]] = {'train': [],
                                                       'test': []}
    try:
        with tarfile.open(path, 'r:gz') as tar:
            for member in tar:
                parts = member.name.strip('/').split('/')
                if not member.isfile() or len(parts) < 3 or \
                        not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
                    continue
                split, c, name = parts[-3:]
                if split in splits:
                    splits[split].append(
                        (c, name, tar.extractfile(member).read()))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ImageDataError(f"'{path}' is not a readable .tar.gz of an "
                             f"image tree (corrupt or truncated): {e}"
                             ) from None
    classes = tuple(sorted({c for c, _, _ in splits['train']}))
    return ImageDataset(*_stack(splits['train'], classes, path),
                        *_stack(splits['test'], classes, path), classes)


def _find_source(root: str, name: str, official: str
                 ) -> Tuple[str, str]:
    for base in (root, osp.join(root, name)):
        if osp.isdir(osp.join(base, official)):
            return 'official', osp.join(base, official)
    for base in (osp.join(root, name), root):
        if osp.isdir(osp.join(base, 'train')) and \
                osp.isdir(osp.join(base, 'test')):
            return 'tree', base
    folder = osp.join(root, name)
    if osp.isdir(folder):
        tarballs = sorted(f for f in os.listdir(folder)
                          if f.endswith('.tar.gz'))
        if tarballs:
            return 'tarball', osp.join(folder, tarballs[0])
    raise FileNotFoundError(
        f"{name.upper()} not found under '{root}': expected "
        f"'{official}/' (official pickles), '{name}/train' and "
        f"'{name}/test' (ImageFolder) or '{name}/*.tar.gz'; set $HCDC_DATA "
        f"or pass 'root'")


def _cached(kind: str, source: str, build) -> ImageDataset:
    stat = os.stat(source)
    key = hashlib.sha1(f'{osp.abspath(source)}|{stat.st_size}|'
                       f'{stat.st_mtime_ns}'.encode()).hexdigest()[:16]
    path = osp.join(cache_dir(), 'images', f'{kind}-{key}.pt')
    # A second process waits for the first's decoding, then reads its cache.
    with exclusive_lock(f'images-{kind}-{key}'):
        if osp.exists(path):
            saved = torch.load(path, weights_only=True)
            return ImageDataset(saved['train_x'], saved['train_y'],
                                saved['test_x'], saved['test_y'],
                                tuple(saved['classes'].split(',')))
        data = build()
        os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save({**{k: getattr(data, k) for k in
                       ('train_x', 'train_y', 'test_x', 'test_y')},
                    'classes': ','.join(data.classes)}, path + '.tmp')
        os.replace(path + '.tmp', path)
        return data


def load_cifar10(root: Optional[str] = None) -> ImageDataset:
    """CIFAR-10 (50,000 training and 10,000 test images) from the first
    source found (see the module docstring), decoded once and cached."""
    kind, source = _find_source(data_root(root), 'cifar10',
                                'cifar-10-batches-py')
    if kind == 'official':
        def build():
            train = [osp.join(source, f'data_batch_{i}') for i in range(1, 6)]
            return ImageDataset(
                *_batches_to_tensors(train, b'labels'),
                *_batches_to_tensors([osp.join(source, 'test_batch')],
                                     b'labels'), CIFAR10_CLASSES)
        return build()  # already fast to read: no cache
    reader = _read_tree if kind == 'tree' else _read_tarball
    return _cached(f'cifar10-{kind}', source, lambda: reader(source))


def load_cifar100(root: Optional[str] = None) -> ImageDataset:
    """CIFAR-100 (fine labels) from the official ``cifar-100-python``
    folder."""
    kind, source = _find_source(data_root(root), 'cifar100',
                                'cifar-100-python')
    if kind != 'official':
        raise FileNotFoundError(f"CIFAR-100 is read from the official "
                                f"'cifar-100-python' folder (found {kind} "
                                f"at '{source}')")
    meta = read_batch(osp.join(source, 'meta'))
    classes = tuple(c.decode() for c in meta.get(b'fine_label_names', []))
    return ImageDataset(
        *_batches_to_tensors([osp.join(source, 'train')], b'fine_labels'),
        *_batches_to_tensors([osp.join(source, 'test')], b'fine_labels'),
        classes)
