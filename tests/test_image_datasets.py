import os
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from hcdc_graph.image.datasets import (ImageDataError, load_cifar10,
                                       load_cifar100)

CLASSES = ('cat', 'dog')


def smooth_image(seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=3)
    ramp = np.linspace(0, 40, 32)
    img = base + ramp[:, None, None] + ramp[None, :, None]
    return img.astype(np.uint8)  # 32 x 32 x 3


def write_tree(folder, counts=(('train', 3), ('test', 2))):
    images = {}
    for split, n in counts:
        for c in CLASSES:
            os.makedirs(folder / split / c)
            for i in range(n):
                img = smooth_image(len(images))
                Image.fromarray(img).save(folder / split / c / f'{i:04d}.jpg',
                                          quality=95)
                images[(split, c, i)] = img
    return images


def test_image_tree_and_tarball(tmp_path):
    images = write_tree(tmp_path / 'tree' / 'cifar10')
    data = load_cifar10(str(tmp_path / 'tree'))
    assert data.train_x.shape == (6, 3, 32, 32) and data.train_x.dtype == \
        torch.uint8
    assert data.test_x.shape == (4, 3, 32, 32)
    assert data.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.classes == CLASSES
    # JPEG is lossy, but the decoded pixels are the written ones, in order
    first = torch.from_numpy(images[('train', 'cat', 0)]).permute(2, 0, 1)
    assert (data.train_x[0].float() - first.float()).abs().mean() < 3
    # the same tree as a .tar.gz (the offline copy's layout)
    (tmp_path / 'tar' / 'cifar10').mkdir(parents=True)
    with tarfile.open(tmp_path / 'tar' / 'cifar10' / 'c.tar.gz', 'w:gz') as t:
        t.add(tmp_path / 'tree' / 'cifar10', arcname='cifar10')
    packed = load_cifar10(str(tmp_path / 'tar'))
    assert torch.equal(packed.train_x, data.train_x)
    assert torch.equal(packed.test_y, data.test_y)
    # decoded once, then read from the cache
    cached = [f for f in os.listdir(os.environ['HCDC_CACHE'] + '/images')]
    assert any(f.startswith('cifar10-tarball') for f in cached)
    assert torch.equal(load_cifar10(str(tmp_path / 'tar')).train_x,
                       data.train_x)


def test_corrupt_tarball_and_missing_data(tmp_path):
    (tmp_path / 'cifar10').mkdir()
    (tmp_path / 'cifar10' / 'c.tar.gz').write_bytes(b'\x1f\x8b\x08garbage')
    with pytest.raises(ImageDataError, match='not a readable .tar.gz'):
        load_cifar10(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='cifar-10-batches-py'):
        load_cifar10(str(tmp_path / 'empty'))


def write_official(folder, n=4):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        batch = {b'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b'labels': rng.integers(0, 10, n).tolist(),
                 b'batch_label': name.encode()}
        with open(folder / name, 'wb') as f:
            pickle.dump(batch, f, protocol=2)
        batches[name] = batch
    return batches


def test_official_pickles_are_read_exactly(tmp_path):
    batches = write_official(tmp_path / 'cifar-10-batches-py')
    data = load_cifar10(str(tmp_path))
    assert data.train_x.shape == (20, 3, 32, 32)
    expected = torch.from_numpy(batches['data_batch_2'][b'data']) \
        .view(-1, 3, 32, 32)
    assert torch.equal(data.train_x[4:8], expected)
    assert data.test_y.tolist() == batches['test_batch'][b'labels']


class Exploit:
    def __reduce__(self):
        return (os.system, ('echo pwned > pwned.txt', ))


def test_unsafe_or_corrupt_pickles_are_refused(tmp_path):
    write_official(tmp_path / 'cifar-10-batches-py')
    with open(tmp_path / 'cifar-10-batches-py' / 'data_batch_3', 'wb') as f:
        pickle.dump({b'data': Exploit()}, f, protocol=2)
    with pytest.raises(ImageDataError, match='refused'):
        load_cifar10(str(tmp_path))
    assert not os.path.exists('pwned.txt')
    with open(tmp_path / 'cifar-10-batches-py' / 'data_batch_3', 'wb') as f:
        f.write(b'\x80\x02}q\x00(')  # truncated
    with pytest.raises(ImageDataError, match='not a readable CIFAR batch'):
        load_cifar10(str(tmp_path))


def test_cifar100_official(tmp_path):
    folder = tmp_path / 'cifar-100-python'
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (('train', 6), ('test', 3)):
        with open(folder / name, 'wb') as f:
            pickle.dump({b'data': rng.integers(0, 256, (n, 3072),
                                               dtype=np.uint8),
                         b'fine_labels': list(range(n))}, f, protocol=2)
    with open(folder / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': [f'c{i}'.encode()
                                           for i in range(100)]}, f)
    data = load_cifar100(str(tmp_path))
    assert data.train_x.shape == (6, 3, 32, 32) and data.test_y.tolist() == \
        [0, 1, 2]
    assert len(data.classes) == 100
