"""Loaders for the real datasets: offline-first, never prompting, with clear
errors when files are missing."""
import os.path as osp
from typing import Callable, Dict, List, Optional

import torch
from torch_geometric.data import Data

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


def _with_processed_dir(cls: type) -> type:
    """A subclass of a PyG dataset class that processes into the user's cache
    when the dataset folder is read-only (PyG writes ``processed/`` beside
    ``raw/``)."""
    class WithWritableProcessedDir(cls):
        @property
        def processed_dir(self) -> str:
            return writable_or_cache(super().processed_dir)

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


_LOADERS: Dict[str, Callable[[str, bool], Data]] = {
    'Cora': lambda root, dl: _load_planetoid('Cora', root, dl),
    'CiteSeer': lambda root, dl: _load_planetoid('CiteSeer', root, dl),
    'ogbn-arxiv': _load_ogbn_arxiv,
    'Reddit': _load_reddit,
}

KNOWN_DATASETS = tuple(_LOADERS) + ('csbm', )


def load_dataset(name: str, root: Optional[str] = None,
                 download: bool = True, **csbm_kwargs) -> Data:
    r"""Loads a node-classification dataset as one :class:`~torch_geometric.
    data.Data` with ``train_mask``, ``val_mask`` and ``test_mask``.

    Args:
        name (str): ``'Cora'``, ``'CiteSeer'`` (Planetoid, public split),
            ``'ogbn-arxiv'`` (ogb time split, symmetrized), ``'Reddit'``, or
            ``'csbm'`` (generated: keyword arguments go to
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
    """
    canonical = {k.lower(): k for k in KNOWN_DATASETS}.get(str(name).lower())
    if canonical is None:
        raise ValueError(f"Unknown dataset '{name}'. Known datasets: "
                         f"{', '.join(KNOWN_DATASETS)}")
    if canonical == 'csbm':
        return csbm(**csbm_kwargs)
    if csbm_kwargs:
        raise TypeError(f"Unexpected arguments for {canonical}: "
                        f"{sorted(csbm_kwargs)}")
    # PyG processes on first use and writes non-atomically: a second process
    # loading meanwhile would read a half-written file.
    with exclusive_lock(f'dataset-{canonical}'):
        data = _LOADERS[canonical](data_root(root), download)
    data.name = canonical
    return data


def require_finite_features(data: Data) -> None:
    """Raises a clear error when ``data.x`` holds NaN or infinite values."""
    if not torch.isfinite(data.x).all():
        raise ValueError("The node features contain NaN or infinite values")


def require_masks(data: Data, *names: str) -> None:
    """Raises a clear error when ``data`` lacks one of the boolean node masks
    ``names`` (e.g. ``'train_mask'``) or when one of them is empty."""
    for name in names:
        mask = getattr(data, name, None)
        if mask is None:
            raise ValueError(f"The graph has no '{name}': a node mask is "
                             f"needed here (set data.{name} = a boolean "
                             f"tensor of length num_nodes)")
        if mask.dtype != torch.bool or mask.numel() != data.num_nodes:
            raise ValueError(f"data.{name} must be a boolean tensor of length "
                             f"num_nodes={data.num_nodes}")
        if not bool(mask.any()):
            raise ValueError(f"data.{name} selects no node")
