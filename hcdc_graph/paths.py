"""Where data lives: the data root and the writable cache (shared by the
graph and image datasets; no graph code)."""
import contextlib
import hashlib
import os
import os.path as osp
import stat
from typing import Iterator, Optional

from filelock import FileLock


def data_root(root: Optional[str] = None) -> str:
    """The data root: ``root`` if given, else ``$HCDC_DATA``, else
    ``./datasets``."""
    if root is None:
        root = os.environ.get('HCDC_DATA') or 'datasets'
    return osp.abspath(osp.expanduser(root))


def cache_dir() -> str:
    """A writable cache: ``$HCDC_CACHE``, else ``$XDG_CACHE_HOME/hcdc_graph``,
    else ``~/.cache/hcdc_graph``."""
    path = os.environ.get('HCDC_CACHE')
    if not path:
        base = os.environ.get('XDG_CACHE_HOME') or osp.join(
            osp.expanduser('~'), '.cache')
        path = osp.join(base, 'hcdc_graph')
    os.makedirs(path, exist_ok=True)
    return path


def is_writable(path: str) -> bool:
    """Whether files can be created at ``path`` (or where it would be
    created).

    A folder without any write bit counts as read-only even for root, who
    could write there anyway: such a folder is meant to be left alone (a
    shared lab mount, CI's copy of the offline data)."""
    path = osp.abspath(path)
    while not osp.exists(path):
        parent = osp.dirname(path)
        if parent == path:
            return False
        path = parent
    mode = os.stat(path).st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and \
        os.access(path, os.W_OK)


def writable_or_cache(path: str, kind: str = 'processed') -> str:
    """``path`` itself when writable, else a stable folder in the cache keyed
    by ``path`` (so a read-only data root is processed once per user)."""
    if is_writable(path):
        return path
    key = hashlib.sha1(osp.abspath(path).encode()).hexdigest()[:12]
    return osp.join(cache_dir(), kind, f'{osp.basename(path)}-{key}')


@contextlib.contextmanager
def exclusive_lock(name: str) -> Iterator[None]:
    """Holds an inter-process lock named ``name`` (a file under
    ``<cache>/locks``, through :mod:`filelock`) for the ``with`` block, so
    that two processes never write the same cache files at once (a reader
    would otherwise see a half-written file)."""
    folder = osp.join(cache_dir(), 'locks')
    os.makedirs(folder, exist_ok=True)
    with FileLock(osp.join(folder, f'{name}.lock')):
        yield
