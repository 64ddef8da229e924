"""Loaders for the real datasets: offline-first, never prompting, with clear
errors when files are missing."""
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Tuple
from unittest import mock

import torch
from torch_geometric.data import Data
from torch_geometric.data.dataset import files_exist
from torch_geometric.io import planetoid as planetoid_io

from hcdc_graph import io

from hcdc_graph.datasets.csbm import csbm
from hcdc_graph.paths import data_root, exclusive_lock, writable_or_cache

LAYOUTS: Dict[str, str] = {
    'Cora': 'Planetoid/Cora/raw/ind.cora.{x,tx,allx,y,ty,ally,graph,'
            'test.index}',
    'CiteSeer': 'Planetoid/CiteSeer/raw/ind.citeseer.{x,tx,allx,y,ty,ally,'
                'graph,test.index}',
    'ogbn-arxiv': 'ogbn_arxiv/{RELEASE_v1.txt, raw/{edge,node-feat,'
                  'node-label,node_year,num-node-list,num-edge-list}.csv.gz, '
                  'split/time/{train,valid,test}.csv.gz}',
    'Reddit': 'Reddit/raw/{reddit_data.npz,reddit_graph.npz}',
}


def _geom_gcn_files(prefix: str) -> List[str]:
    return ['out1_node_feature_label.txt', 'out1_graph_edges.txt'] + \
        [f'{prefix}_split_0.6_0.2_{i}.npz' for i in range(10)]


# The heterophilous benchmarks, each with ten train/val/test splits: the PyG
# class, its arguments, its raw folder under the data root, its raw files,
# and whether its features are bag-of-words (row-normalized, as Planetoid's).
HETEROPHILOUS: Dict[str, Tuple[str, dict, str, List[str], bool]] = {
    'chameleon': ('WikipediaNetwork', {'name': 'chameleon',
                                       'geom_gcn_preprocess': True},
                  'WikipediaNetwork/chameleon/geom_gcn/raw',
                  _geom_gcn_files('chameleon'), True),
    'squirrel': ('WikipediaNetwork', {'name': 'squirrel',
                                      'geom_gcn_preprocess': True},
                 'WikipediaNetwork/squirrel/geom_gcn/raw',
                 _geom_gcn_files('squirrel'), True),
    'Actor': ('Actor', {}, 'Actor/raw', _geom_gcn_files('film'), True),
    **{name: ('WebKB', {'name': name}, f'WebKB/{name.lower()}/raw',
              _geom_gcn_files(name.lower()), True)
       for name in ('Cornell', 'Texas', 'Wisconsin')},
    **{name: ('HeterophilousGraphDataset', {'name': name},
              f'HeterophilousGraphDataset/{name.lower()}/raw',
              [f'{name.lower()}.npz'], False)
       for name in ('Minesweeper', 'Tolokers')},
}
NUM_SPLITS = 10
for _name, (_, _, _folder, _files, _) in HETEROPHILOUS.items():
    LAYOUTS[_name] = f"{_folder}/{{{','.join(_files)}}}"


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not where the loader looks, and could not be
    downloaded."""


def _missing(name: str, root: str, cause: Optional[BaseException]) -> None:
    why = f' (download failed: {type(cause).__name__}: {cause})' \
        if cause is not None else ''
    raise DatasetNotFoundError(
        f"{name} not found under '{root}'{why}. Expected layout: "
        f"{osp.join(root, LAYOUTS[name])}. Set the data root with "
        f"root=..., $HCDC_DATA, or place the files under ./datasets "
        f"(see datasets/README.md).")


# The globals Planetoid's raw pickles hold (numpy arrays, a scipy CSR
# matrix, the graph as a defaultdict of lists), under the module names old
# and new versions of numpy and scipy give them.
PLANETOID_GLOBALS = frozenset({
    'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
    'numpy.ndarray', 'numpy.dtype', 'scipy.sparse.csr.csr_matrix',
    'scipy.sparse._csr.csr_matrix', 'collections.defaultdict',
    'builtins.list', '__builtin__.list'})


class _RestrictedPickle:
    """Stands in for the ``pickle`` module inside PyG's Planetoid reader,
    whose ``pickle.load`` would run whatever a raw file asks for."""
    @staticmethod
    def load(file, **kwargs):
        return io.restricted_load(file, PLANETOID_GLOBALS,
                                  path=getattr(file, 'path', 'a raw file'),
                                  **kwargs)


def _with_processed_dir(cls: type) -> type:
    """A subclass of a PyG dataset class that never runs code from a file
    and processes into the user's cache when the dataset folder is
    read-only (PyG writes ``processed/`` beside ``raw/``).

    PyG unpickles Planetoid's raw files with plain ``pickle``, reads
    ``pre_transform.pt`` with ``weights_only=False``, and loads
    ``processed/data.pt`` falling back to ``weights_only=False`` when the
    safe load fails: each would run code from a hostile file. Here raw
    pickles go through :func:`~hcdc_graph.io.restricted_load`, the
    ``pre_*.pt`` files are never read (no ``pre_transform`` is used), and
    processed files are loaded with ``weights_only=True`` and no fallback."""
    class WithWritableProcessedDir(cls):
        @property
        def processed_dir(self) -> str:
            return writable_or_cache(super().processed_dir)

        def _process(self):
            if files_exist(self.processed_paths):
                return
            os.makedirs(self.processed_dir, exist_ok=True)
            with mock.patch.object(planetoid_io, 'pickle', _RestrictedPickle):
                self.process()

        def load(self, path: str, data_cls: type = Data) -> None:
            register_safe_globals()
            out = io.safe_torch_load(path, 'processed dataset file')
            if not isinstance(out, tuple) or len(out) not in (2, 3) or \
                    not isinstance(out[0], dict):
                raise ValueError(f"'{path}' is not a processed PyG dataset "
                                 f"file; delete it to have it made again")
            data, self.slices = out[:2]
            if len(out) == 3:
                data_cls = out[2]
            self.data = data_cls.from_dict(data)

    WithWritableProcessedDir.__name__ = cls.__name__
    return WithWritableProcessedDir


def _all_exist(paths: List[str]) -> bool:
    return all(osp.exists(p) for p in paths)


def _load_planetoid(name: str, root: str, download: bool) -> Data:
    from torch_geometric.datasets import Planetoid
    from torch_geometric.transforms import NormalizeFeatures
    folder = osp.join(root, 'Planetoid')
    cls = _with_processed_dir(Planetoid)
    raw = osp.join(folder, name, 'raw')
    prefix = f'ind.{name.lower()}.'
    expected = [osp.join(raw, prefix + s) for s in
                ('x', 'tx', 'allx', 'y', 'ty', 'ally', 'graph', 'test.index')]
    if not _all_exist(expected) and not download:
        _missing(name, root, None)
    try:
        # Row-normalized bag-of-words features, as in GCN (Kipf & Welling).
        return cls(folder, name, split='public',
                   transform=NormalizeFeatures())[0]
    except (OSError, RuntimeError) as e:  # network errors are OSErrors
        if _all_exist(expected):
            raise
        _missing(name, root, e)


def register_safe_globals() -> None:
    """Lets ``torch.load(weights_only=True)`` read PyG's ``Data`` objects, as
    ogb's processed files hold them (ogb 1.3.6 on torch >= 2.6)."""
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage
    torch.serialization.add_safe_globals(
        [Data, DataEdgeAttr, DataTensorAttr, GlobalStorage])


def _load_ogbn_arxiv(root: str, download: bool) -> Data:
    from ogb.nodeproppred import PygNodePropPredDataset
    from torch_geometric.utils import to_undirected
    folder = osp.join(root, 'ogbn_arxiv')
    release = osp.join(folder, 'RELEASE_v1.txt')
    if osp.isdir(folder) and not osp.exists(release):
        # ogb would ask on stdin whether to delete the folder: never prompt.
        raise DatasetNotFoundError(
            f"'{folder}' exists but has no RELEASE_v1.txt: it is not a "
            f"complete ogbn-arxiv download. Expected layout: "
            f"{osp.join(root, LAYOUTS['ogbn-arxiv'])}")
    if not osp.isdir(folder) and not download:
        _missing('ogbn-arxiv', root, None)
    register_safe_globals()
    cls = _with_processed_dir(PygNodePropPredDataset)
    try:
        dataset = cls(name='ogbn-arxiv', root=root)
    except (OSError, RuntimeError, SystemExit) as e:
        if osp.exists(release):
            raise
        _missing('ogbn-arxiv', root, e)
    data = dataset[0]
    split = dataset.get_idx_split()
    n = data.num_nodes
    # ogbn-arxiv is directed; GNNs on it use the symmetrized graph.
    out = Data(x=data.x, edge_index=to_undirected(data.edge_index,
                                                 num_nodes=n),
               y=data.y.view(-1), num_nodes=n)
    for key, ogb_key in (('train', 'train'), ('val', 'valid'),
                         ('test', 'test')):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[split[ogb_key]] = True
        out[f'{key}_mask'] = mask
    return out


def _load_reddit(root: str, download: bool) -> Data:
    from torch_geometric.datasets import Reddit
    folder = osp.join(root, 'Reddit')
    expected = [osp.join(folder, 'raw', f)
                for f in ('reddit_data.npz', 'reddit_graph.npz')]
    if not _all_exist(expected) and not download:
        _missing('Reddit', root, None)
    try:
        return _with_processed_dir(Reddit)(folder)[0]
    except (OSError, RuntimeError) as e:
        if _all_exist(expected):
            raise
        _missing('Reddit', root, e)


def _load_heterophilous(name: str, root: str, download: bool,
                        split: int) -> Data:
    import torch_geometric.datasets as pyg_datasets
    from torch_geometric.transforms import NormalizeFeatures
    from torch_geometric.utils import to_undirected
    cls_name, kwargs, raw, files, bag_of_words = HETEROPHILOUS[name]
    # The class's root: the folder above its own name (and geom_gcn/raw).
    folder = osp.join(root, raw.split('/')[0])
    expected = [osp.join(root, raw, f) for f in files]
    if not _all_exist(expected) and not download:
        _missing(name, root, None)
    cls = _with_processed_dir(getattr(pyg_datasets, cls_name))
    try:
        data = cls(folder, **kwargs)[0]
    except (OSError, RuntimeError) as e:
        if _all_exist(expected):
            raise
        _missing(name, root, e)
    if bag_of_words:
        data = NormalizeFeatures()(data)
    # The filters are polynomials of a symmetric Laplacian (spectrum in
    # [0, 2]), so directed graphs (geom-gcn's) are symmetrized.
    out = Data(x=data.x, y=data.y.view(-1),
               edge_index=to_undirected(data.edge_index,
                                        num_nodes=data.num_nodes),
               num_nodes=data.num_nodes)
    for key in ('train_mask', 'val_mask', 'test_mask'):
        out[key] = data[key][:, split].clone()
    return out


_LOADERS: Dict[str, Callable[[str, bool], Data]] = {
    'Cora': lambda root, dl: _load_planetoid('Cora', root, dl),
    'CiteSeer': lambda root, dl: _load_planetoid('CiteSeer', root, dl),
    'ogbn-arxiv': _load_ogbn_arxiv,
    'Reddit': _load_reddit,
    **{name: (lambda root, dl, split, name=name:
              _load_heterophilous(name, root, dl, split))
       for name in HETEROPHILOUS},
}

KNOWN_DATASETS = tuple(_LOADERS) + ('csbm', )


def load_dataset(name: str, root: Optional[str] = None,
                 download: bool = True, split: Optional[int] = None,
                 **csbm_kwargs) -> Data:
    r"""Loads a node-classification dataset as one :class:`~torch_geometric.
    data.Data` with ``train_mask``, ``val_mask`` and ``test_mask``.

    Args:
        name (str): ``'Cora'``, ``'CiteSeer'`` (Planetoid, public split),
            ``'ogbn-arxiv'`` (ogb time split, symmetrized), ``'Reddit'``,
            the heterophilous ``'chameleon'``, ``'squirrel'`` (PyG
            ``WikipediaNetwork`` with geom-gcn's preprocessing), ``'Actor'``,
            ``'Cornell'``, ``'Texas'``, ``'Wisconsin'`` (geom-gcn's 60/20/20
            splits; bag-of-words features row-normalized), ``'Minesweeper'``,
            ``'Tolokers'`` (PyG ``HeterophilousGraphDataset``, 50/25/25), all
            symmetrized, or ``'csbm'`` (generated: keyword arguments go to
            :func:`~hcdc_graph.datasets.csbm`). Case-insensitive.
        root (str, optional): The data root. Defaults to ``$HCDC_DATA``,
            else ``./datasets``. Files are looked up in the layouts of
            ``datasets/README.md``; a read-only root is processed into the
            user cache (``$HCDC_CACHE``, default ``~/.cache/hcdc_graph``).
            Processes loading the same dataset take turns, so parallel jobs
            never read a half-processed file.
        download (bool, optional): Try to download missing files. With
            :obj:`False` (or when the download fails) missing files raise a
            :class:`DatasetNotFoundError` naming the expected path.
            (default: :obj:`True`)
        split (int, optional): Which of the ten masks of a heterophilous
            dataset, ``0`` to ``9``. (default: :obj:`0`; an error for the
            other datasets, which have one split)
    """
    canonical = {k.lower(): k for k in KNOWN_DATASETS}.get(str(name).lower())
    if canonical is None:
        raise ValueError(f"Unknown dataset '{name}'. Known datasets: "
                         f"{', '.join(KNOWN_DATASETS)}")
    args = ()
    if canonical in HETEROPHILOUS:
        split = 0 if split is None else split
        if not isinstance(split, int) or not 0 <= split < NUM_SPLITS:
            raise ValueError(f"'split' of {canonical} must be an integer "
                             f"from 0 to {NUM_SPLITS - 1} (got {split!r})")
        args = (split, )
    elif split is not None:
        raise ValueError(f"{canonical} has one split; 'split' applies to "
                         f"{', '.join(HETEROPHILOUS)}")
    if canonical == 'csbm':
        return csbm(**csbm_kwargs)
    if csbm_kwargs:
        raise TypeError(f"Unexpected arguments for {canonical}: "
                        f"{sorted(csbm_kwargs)}")
    # PyG processes on first use and writes non-atomically: a second process
    # loading meanwhile would read a half-written file.
    with exclusive_lock(f'dataset-{canonical}'):
        data = _LOADERS[canonical](data_root(root), download, *args)
    data.name = canonical
    if args:
        data.split = split
    return data
