import gzip
import os
import os.path as osp
import shutil
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import homophily, is_undirected

from hcdc_graph import HCDCCondenser
from hcdc_graph.cli import main
from hcdc_graph.datasets import (DatasetNotFoundError, csbm, load_dataset,
                                 require_masks)
from hcdc_graph.paths import is_writable

from conftest import data_file, planetoid_root, requires_planetoid


def make_read_only(path):
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames:
            os.chmod(osp.join(dirpath, name), stat.S_IRUSR | stat.S_IRGRP)
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP |
                 stat.S_IXGRP)


@requires_planetoid
@pytest.mark.parametrize('name,sizes', [
    ('Cora', (2708, 1433, 7, 140, 500, 1000)),
    ('citeseer', (3327, 3703, 6, 120, 500, 1000)),
])
def test_planetoid_offline_from_read_only_root(name, sizes, tmp_path):
    # A read-only copy of the raw files (as CI's shared/ is): processed files
    # must go to the cache, not beside raw/.
    src = osp.join(planetoid_root(), 'Planetoid')
    folder = 'Cora' if name == 'Cora' else 'CiteSeer'
    raw = tmp_path / 'Planetoid' / folder / 'raw'
    raw.mkdir(parents=True)
    for f in os.listdir(osp.join(src, folder, 'raw')):
        (raw / f).write_bytes(open(osp.join(src, folder, 'raw', f), 'rb')
                              .read())
    make_read_only(tmp_path / 'Planetoid')
    assert not is_writable(str(raw.parent / 'processed'))
    data = load_dataset(name, root=str(tmp_path), download=False)
    n, d, c, ntr, nva, nte = sizes
    assert (data.num_nodes, data.num_features, int(data.y.max()) + 1) == \
        (n, d, c)
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()),
            int(data.test_mask.sum())) == (ntr, nva, nte)
    assert not (raw.parent / 'processed').exists()
    # row-normalized features
    rows = data.x.sum(1)
    assert torch.allclose(rows[rows > 0], torch.ones_like(rows[rows > 0]))


def test_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv('HCDC_DATA', str(tmp_path / 'env'))
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / 'env')):
        load_dataset('Cora', download=False)
    with pytest.raises(DatasetNotFoundError, match='explicit'):
        load_dataset('Cora', root=str(tmp_path / 'explicit'), download=False)
    monkeypatch.delenv('HCDC_DATA')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError,
                       match=osp.join(str(tmp_path), 'datasets')):
        load_dataset('Cora', download=False)


def test_missing_files_name_path_and_layout(tmp_path):
    for name, part in (('Cora', 'ind.cora.'), ('Reddit', 'reddit_data.npz'),
                       ('ogbn-arxiv', 'RELEASE_v1.txt')):
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset(name, root=str(tmp_path), download=False)
        assert str(tmp_path) in str(info.value) and part in str(info.value)


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match='Cora, CiteSeer, ogbn-arxiv, '
                       'Reddit, chameleon, .*Tolokers, csbm'):
        load_dataset('PubMedX')


requires_chameleon = pytest.mark.skipif(
    data_file('WikipediaNetwork', 'chameleon', 'geom_gcn', 'raw',
              'out1_graph_edges.txt') is None,
    reason='chameleon raw files not found ($HCDC_DATA or ../shared/data)')


@requires_chameleon
def test_chameleon_offline_splits_symmetrized(tmp_path):
    src = osp.dirname(data_file('WikipediaNetwork', 'chameleon', 'geom_gcn',
                                'raw', 'out1_graph_edges.txt'))
    raw = tmp_path / 'WikipediaNetwork' / 'chameleon' / 'geom_gcn' / 'raw'
    raw.mkdir(parents=True)
    for f in os.listdir(src):
        shutil.copy(osp.join(src, f), raw / f)
    make_read_only(tmp_path / 'WikipediaNetwork')
    first = load_dataset('chameleon', root=str(tmp_path), download=False)
    third = load_dataset('Chameleon', root=str(tmp_path), download=False,
                         split=3)
    assert (first.num_nodes, first.num_features, int(first.y.max()) + 1) \
        == (2277, 2325, 5)
    assert is_undirected(first.edge_index)
    assert first.edge_index.size(1) == 62792  # 36,101 directed, symmetrized
    assert (int(first.train_mask.sum()), int(first.val_mask.sum()),
            int(first.test_mask.sum())) == (1092, 729, 456)
    assert not torch.equal(first.train_mask, third.train_mask)
    assert (first.split, third.split) == (0, 3)
    assert not (first.train_mask & first.val_mask).any()
    assert abs(float(homophily(first.edge_index, first.y)) - 0.23) < 0.01
    assert not (raw.parent / 'processed').exists()


def write_fake_actor(root, n=12, d=6, classes=3):
    """A tiny Actor in PyG's raw layout (geom-gcn's film files)."""
    raw = osp.join(root, 'Actor', 'raw')
    os.makedirs(raw)
    rng = np.random.default_rng(0)
    with open(osp.join(raw, 'out1_node_feature_label.txt'), 'w') as f:
        f.write('node_id\tfeature\tlabel\n')
        for i in range(n):
            feats = sorted(rng.choice(d, 2, replace=False).tolist())
            f.write(f"{i}\t{','.join(map(str, feats))}\t{i % classes}\n")
    with open(osp.join(raw, 'out1_graph_edges.txt'), 'w') as f:
        f.write('node_id\tnode_id\n')
        for i in range(n):
            f.write(f'{i}\t{(i + 1) % n}\n')
    for s in range(10):
        perm = rng.permutation(n)
        masks = [np.isin(np.arange(n), part).astype(np.uint8)
                 for part in (perm[:6], perm[6:9], perm[9:])]
        np.savez(osp.join(raw, f'film_split_0.6_0.2_{s}.npz'),
                 train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


def test_actor_loader_on_fake(tmp_path):
    write_fake_actor(str(tmp_path))
    data = load_dataset('actor', root=str(tmp_path), download=False, split=2)
    assert data.name == 'Actor' and data.num_nodes == 12
    assert int(data.y.max()) + 1 == 3
    assert is_undirected(data.edge_index) and data.edge_index.size(1) == 24
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()),
            int(data.test_mask.sum())) == (6, 3, 3)
    assert torch.allclose(data.x.sum(1), torch.ones(12))  # row-normalized


def test_split_is_checked(tmp_path):
    write_fake_actor(str(tmp_path))
    for bad in (-1, 10, 1.5):
        with pytest.raises(ValueError, match="'split' of Actor"):
            load_dataset('Actor', root=str(tmp_path), split=bad)
    with pytest.raises(ValueError, match='Cora has one split'):
        load_dataset('Cora', root=str(tmp_path), split=1)
    for name, part in (('chameleon', 'chameleon_split_0.6_0.2_9.npz'),
                       ('Actor', 'film_split'),
                       ('Minesweeper', 'minesweeper.npz')):
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset(name, root=str(tmp_path / 'none'), download=False)
        assert str(tmp_path / 'none') in str(info.value) and \
            part in str(info.value)


def _write_csv_gz(path, rows):
    with gzip.open(path, 'wt') as f:
        for row in rows:
            f.write(','.join(str(v) for v in np.atleast_1d(row)) + '\n')


def write_fake_arxiv(root, n=12, d=5, classes=3, seed=0):
    """A tiny ogbn-arxiv in ogb's on-disk layout (csv.gz files)."""
    rng = np.random.default_rng(seed)
    base = osp.join(root, 'ogbn_arxiv')
    os.makedirs(osp.join(base, 'raw'))
    os.makedirs(osp.join(base, 'split', 'time'))
    edges = np.array([[i, (i + 1) % n] for i in range(n)])  # directed ring
    _write_csv_gz(osp.join(base, 'raw', 'edge.csv.gz'), edges)
    _write_csv_gz(osp.join(base, 'raw', 'node-feat.csv.gz'),
                  rng.normal(size=(n, d)).round(4))
    labels = np.arange(n) % classes
    _write_csv_gz(osp.join(base, 'raw', 'node-label.csv.gz'), labels)
    _write_csv_gz(osp.join(base, 'raw', 'node_year.csv.gz'),
                  2010 + np.arange(n) % 5)
    _write_csv_gz(osp.join(base, 'raw', 'num-node-list.csv.gz'), [n])
    _write_csv_gz(osp.join(base, 'raw', 'num-edge-list.csv.gz'),
                  [len(edges)])
    perm = rng.permutation(n)
    for split, idx in (('train', perm[:6]), ('valid', perm[6:9]),
                       ('test', perm[9:])):
        _write_csv_gz(osp.join(base, 'split', 'time', f'{split}.csv.gz'),
                      idx)
    open(osp.join(base, 'RELEASE_v1.txt'), 'w').write('fake\n')
    return labels, perm


def test_ogbn_arxiv_loader_on_fake(tmp_path):
    labels, perm = write_fake_arxiv(str(tmp_path))
    make_read_only(tmp_path / 'ogbn_arxiv')
    data = load_dataset('ogbn-arxiv', root=str(tmp_path), download=False)
    assert data.num_nodes == 12 and data.num_features == 5
    assert torch.equal(data.y, torch.from_numpy(labels))
    assert data.edge_index.size(1) == 24  # the ring, symmetrized
    assert set(torch.where(data.train_mask)[0].tolist()) == set(perm[:6])
    assert set(torch.where(data.val_mask)[0].tolist()) == set(perm[6:9])
    assert set(torch.where(data.test_mask)[0].tolist()) == set(perm[9:])
    # loading again reads the processed file (weights_only) without a prompt
    again = load_dataset('ogbn-arxiv', root=str(tmp_path), download=False)
    assert torch.equal(again.x, data.x)
    assert not (tmp_path / 'ogbn_arxiv' / 'processed').exists()


def test_parallel_loads_take_turns(tmp_path, monkeypatch):
    # Another process holds the dataset's lock (as while it processes the
    # files); this process's load must wait until the lock is released.
    write_fake_arxiv(str(tmp_path))
    monkeypatch.setenv('HCDC_CACHE', str(tmp_path / 'cache'))
    held, released = tmp_path / 'held', tmp_path / 'released'
    holder = subprocess.Popen([sys.executable, '-c', (
        "import pathlib, time\n"
        "from hcdc_graph.paths import exclusive_lock\n"
        "with exclusive_lock('dataset-ogbn-arxiv'):\n"
        f"    pathlib.Path({str(held)!r}).touch()\n"
        "    time.sleep(2)\n"
        f"    pathlib.Path({str(released)!r}).write_text(repr(time.time()))\n"
    )])
    deadline = time.time() + 60
    while not held.exists() and holder.poll() is None and \
            time.time() < deadline:
        time.sleep(0.05)
    assert held.exists(), 'the lock holder did not start'
    data = load_dataset('ogbn-arxiv', root=str(tmp_path), download=False)
    loaded_at = time.time()
    assert holder.wait(timeout=60) == 0
    assert data.num_nodes == 12
    assert loaded_at >= float(released.read_text())


def test_large_graph_commands_run_on_fakes(tmp_path, capsys):
    write_fake_arxiv(str(tmp_path))
    write_fake_reddit(tmp_path)
    for name in ('ogbn-arxiv', 'Reddit'):
        out = tmp_path / f'{name}.pt'
        with pytest.warns(UserWarning, match='every class'):
            assert main(['condense', '--dataset', name, '--root',
                         str(tmp_path), '--method', 'random', '--ratio',
                         '0.005', '--out', str(out), '--quiet']) == 0
        assert out.exists()
    # HCDC's code path on both formats (tiny options, fast); on Reddit with
    # the original-graph hypergradients on node samples
    for name, original_nodes in (('ogbn-arxiv', None), ('Reddit', 8)):
        data = load_dataset(name, root=str(tmp_path), download=False)
        with pytest.warns(UserWarning, match='every class'):
            graph = HCDCCondenser(data, 0.005, progress=False, hidden=4,
                                  num_configs=2,
                                  trajectory_steps=0, epochs=2,
                                  train_epochs=5,
                                  original_nodes=original_nodes).fit()
        assert graph.method == 'hcdc' and bool(graph.val_mask.any())
        assert torch.isfinite(graph.x).all()


def test_ogbn_arxiv_incomplete_folder_never_prompts(tmp_path):
    os.makedirs(tmp_path / 'ogbn_arxiv' / 'raw')
    with pytest.raises(DatasetNotFoundError, match='RELEASE_v1.txt'):
        load_dataset('ogbn-arxiv', root=str(tmp_path))


def write_fake_reddit(root, n=10):
    """A tiny Reddit in PyG's raw layout (npz files)."""
    import scipy.sparse as sp
    raw = root / 'Reddit' / 'raw'
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    node_types = np.array([1] * 5 + [2] * 2 + [3] * 3)
    np.savez(raw / 'reddit_data.npz',
             feature=rng.normal(size=(n, 4)).astype(np.float32),
             label=np.arange(n) % 2, node_types=node_types,
             node_ids=np.arange(n))
    row = np.arange(n)
    col = (row + 1) % n
    adj = sp.coo_matrix((np.ones(2 * n), (np.r_[row, col], np.r_[col, row])),
                        shape=(n, n))
    sp.save_npz(raw / 'reddit_graph.npz', adj)


def test_reddit_loader_on_fake(tmp_path):
    n = 10
    write_fake_reddit(tmp_path, n)
    make_read_only(tmp_path / 'Reddit')
    data = load_dataset('Reddit', root=str(tmp_path), download=False)
    assert data.num_nodes == n and data.edge_index.size(1) == 2 * n
    assert int(data.train_mask.sum()) == 5 and int(data.val_mask.sum()) == 2
    assert int(data.test_mask.sum()) == 3
    assert not (tmp_path / 'Reddit' / 'processed').exists()


def test_csbm_is_deterministic_and_homophily_knob_works():
    a = csbm(num_nodes=3000, num_classes=3, avg_degree=6, homophily=0.9,
             seed=4)
    b = csbm(num_nodes=3000, num_classes=3, avg_degree=6, homophily=0.9,
             seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    low = csbm(num_nodes=3000, num_classes=3, avg_degree=6, homophily=0.1,
               seed=4)
    assert homophily(a.edge_index, a.y) == pytest.approx(0.9, abs=0.03)
    assert homophily(low.edge_index, low.y) == pytest.approx(0.1, abs=0.03)
    assert a.edge_index.size(1) / 3000 == pytest.approx(6, rel=0.05)
    # undirected, no self-loops, disjoint masks covering all nodes
    assert (a.edge_index[0] != a.edge_index[1]).all()
    masks = torch.stack([a.train_mask, a.val_mask, a.test_mask]).int()
    assert (masks.sum(0) == 1).all()
    assert load_dataset('CSBM', num_nodes=100, seed=1).num_nodes == 100


def test_csbm_bad_input():
    with pytest.raises(ValueError, match='homophily'):
        csbm(homophily=1.5)
    with pytest.raises(ValueError, match='num_nodes'):
        csbm(num_nodes=3, num_classes=2)


def test_require_masks():
    data = Data(x=torch.randn(4, 2), y=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="no 'train_mask'"):
        require_masks(data, 'train_mask')
    data.train_mask = torch.zeros(4, dtype=torch.bool)
    with pytest.raises(ValueError, match='selects no node'):
        require_masks(data, 'train_mask')
    data.train_mask = torch.ones(3, dtype=torch.bool)
    with pytest.raises(ValueError, match='length'):
        require_masks(data, 'train_mask')


class _Evil:
    """A pickle that writes a marker file when unpickled."""
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')", ))


@requires_planetoid
def test_no_code_runs_from_dataset_files(tmp_path):
    import pickle
    from hcdc_graph.io import UnsafeFileError
    src = osp.join(planetoid_root(), 'Planetoid', 'Cora', 'raw')

    def fresh_root(name):
        raw = tmp_path / name / 'Planetoid' / 'Cora' / 'raw'
        raw.mkdir(parents=True)
        for f in os.listdir(src):
            shutil.copy(osp.join(src, f), raw / f)
        return raw

    marker = tmp_path / 'marker'
    # a hostile raw pickle: refused by the restricted unpickler
    raw = fresh_root('raw')
    with open(raw / 'ind.cora.x', 'wb') as f:
        pickle.dump(_Evil(marker), f, protocol=2)
    with pytest.raises(UnsafeFileError, match=r'ind.cora.x.* asks for .*exec'):
        load_dataset('Cora', root=str(tmp_path / 'raw'), download=False)
    assert not marker.exists()
    # hostile processed files: data.pt refused (no unsafe fallback), the
    # pre_transform.pt and pre_filter.pt PyG would unpickle never read
    raw = fresh_root('processed')
    root = str(tmp_path / 'processed')
    good = load_dataset('Cora', root=root, download=False)
    processed = raw.parent / 'processed'
    for name in ('pre_transform.pt', 'pre_filter.pt'):
        torch.save(_Evil(marker), processed / name)
    again = load_dataset('Cora', root=root, download=False)
    assert torch.equal(again.x, good.x) and not marker.exists()
    torch.save(_Evil(marker), processed / 'data.pt')
    with pytest.raises(UnsafeFileError, match='not a safe processed') as e:
        load_dataset('Cora', root=root, download=False)
    assert len(str(e.value).splitlines()) == 1 and not marker.exists()
    (processed / 'data.pt').write_bytes(b'not a zip')
    with pytest.raises(ValueError, match='not a readable processed'):
        load_dataset('Cora', root=root, download=False)
