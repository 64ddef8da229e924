"""Saving and loading condensed graphs (and images), safely.

Files hold a plain dictionary of tensors and scalars (no pickled classes), so
:func:`load` reads them with ``torch.load(weights_only=True)``: loading a file
never executes code from it. :func:`save_payload`/:func:`load_payload` are
the format-agnostic part, shared with the image submodule (no graph code is
imported here at module level).
"""
import json
import os
import pickle
from typing import IO, Any, Collection, Dict, Optional, Tuple, Union

import torch

FORMAT = 'hcdc-graph/condensed'
VERSION = 1
_SCALARS = (str, int, float, bool)
PathLike = Union[str, os.PathLike]


def write_json(path: PathLike, obj: Any, indent: Optional[int] = None
               ) -> None:
    """Writes ``obj`` as JSON to ``path`` atomically (through a temporary
    file), creating the folder: resumable runs never read a half-written
    result."""
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=indent)
    os.replace(tmp, path)


def read_json(path: PathLike) -> Any:
    """The JSON object in ``path``."""
    with open(path) as f:
        return json.load(f)


def read_json_folder(folder: PathLike) -> Dict[str, Any]:
    """Every ``*.json`` file in ``folder`` (e.g. the resumable cells of a
    long run), keyed by file name without the suffix, in name order; the
    temporary files of :func:`write_json` are skipped."""
    return {name[:-5]: read_json(os.path.join(folder, name))
            for name in sorted(os.listdir(folder)) if name.endswith('.json')}


class CondensedFileError(ValueError):
    """A file that is not a (complete) hcdc-graph condensed graph."""


class UnsafeFileError(ValueError):
    """A file that asks for more than its format needs when loaded (a
    pickle naming a function or class outside the few its format holds):
    refused, because loading it could run code from it."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], allowed: Collection[str], **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if f'{module}.{name}' not in self.allowed:
            raise UnsafeFileError(
                f"'{getattr(self, 'path', 'the file')}' asks for "
                f"{module}.{name} when loaded, which this kind of file never "
                f"holds; refused (loading it could run code from it)")
        return super().find_class(module, name)


def restricted_load(file: IO[bytes], allowed: Collection[str],
                    path: str = 'the file', **kwargs) -> Any:
    """``pickle.load(file, **kwargs)`` that resolves only the globals named
    in ``allowed`` (``'module.name'``) and raises :class:`UnsafeFileError`
    for any other: plain data formats that happen to be pickles (Planetoid's
    raw files) are read without running code from them."""
    unpickler = _RestrictedUnpickler(file, allowed, **kwargs)
    unpickler.path = path
    return unpickler.load()


def safe_torch_load(path: PathLike, what: str = 'file') -> Any:
    """``torch.load(path, weights_only=True)`` with no fallback: a file that
    needs more (pickled code or classes not allow-listed) raises
    :class:`UnsafeFileError`, a corrupt one a ``ValueError``; both name
    the file in one line."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated zip, foreign or hostile pickle, ...
        # torch's message is many lines; keep the one that says why
        lines = [line.strip() for line in str(e).split(
            'WeightsUnpickler error:')[-1].splitlines() if line.strip()]
        first = lines[0] if lines else ''
        if 'global' in first.lower():
            raise UnsafeFileError(
                f"'{path}' is not a safe {what}: "
                f"{first.split(' was not an allowed global')[0]}; refused "
                f"(loading it could run code from it)") from None
        raise ValueError(f"'{path}' is not a readable {what} (truncated, "
                         f"corrupt or of another format): "
                         f"{type(e).__name__}: {first}") from None


def save_payload(tensors: Dict[str, torch.Tensor], meta: Dict,
                 path: PathLike, fmt: str = FORMAT) -> None:
    """Writes tensors and scalar metadata to ``path`` atomically (other
    metadata types are refused with a ``TypeError``)."""
    plain = {}
    for key, value in meta.items():
        if not isinstance(value, _SCALARS):
            raise TypeError(f"Cannot save attribute '{key}' of type "
                            f"{type(value).__name__}: only tensors and "
                            f"str/int/float/bool metadata are saved")
        # numpy's float64 is a float, but pickles as a numpy global that a
        # weights-only load refuses: store the plain Python value
        plain[key] = next(t(value) for t in (bool, str, int, float)
                          if isinstance(value, t))
    payload = {'format': fmt, 'version': VERSION,
               'tensors': {k: v.detach().cpu() for k, v in tensors.items()},
               'meta': plain}
    tmp = f'{path}.tmp'
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written file at ``path``


def load_payload(path: PathLike, fmt: str = FORMAT
                 ) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Reads ``(tensors, meta)`` written by :func:`save_payload` with format
    ``fmt``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CondensedFileError: the file is truncated, corrupt, or not of
            format ``fmt``.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: '{path}'")
    try:
        payload = safe_torch_load(path, 'hcdc-graph file')
    except UnsafeFileError:
        raise
    except ValueError as e:
        raise CondensedFileError(str(e)) from None
    if not isinstance(payload, dict) or payload.get('format') != fmt:
        raise CondensedFileError(f"'{path}' is not an hcdc-graph file of "
                                 f"format '{fmt}'")
    if payload.get('version') != VERSION:
        raise CondensedFileError(f"'{path}' has format version "
                                 f"{payload.get('version')}; this hcdc-graph "
                                 f"reads version {VERSION}")
    tensors, meta = payload.get('tensors'), payload.get('meta')
    if not isinstance(tensors, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor)
            for k, v in tensors.items()):
        raise CondensedFileError(f"'{path}' is damaged: its 'tensors' must "
                                 f"map names to tensors")
    if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, _SCALARS)
            for k, v in meta.items()):
        raise CondensedFileError(f"'{path}' is damaged: its 'meta' must map "
                                 f"names to str/int/float/bool values")
    if set(tensors) & set(meta):
        raise CondensedFileError(f"'{path}' is damaged: "
                                 f"{sorted(set(tensors) & set(meta))} stored "
                                 f"both as tensors and as metadata")
    return tensors, meta


def save(data, path: PathLike) -> None:
    """Writes a condensed graph's (a :class:`~torch_geometric.data.Data`)
    tensors and scalar metadata to ``path``."""
    tensors, meta = {}, {}
    for key, value in data.to_dict().items():
        if isinstance(value, torch.Tensor):
            tensors[key] = value
        else:
            meta[key] = value
    save_payload(tensors, meta, path)


def load(path: PathLike):
    """Reads a graph written by :func:`save` as a
    :class:`~torch_geometric.data.Data`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CondensedFileError: the file is truncated, corrupt, not an
            hcdc-graph condensed graph, or holds a malformed graph (see
            :func:`~hcdc_graph.validation.check_graph`: checked before any
            tensor is used).
        UnsafeFileError: the file would run code if unpickled.
    """
    from torch_geometric.data import Data

    from hcdc_graph.validation import check_graph
    tensors, meta = load_payload(path)
    missing = [k for k in ('x', 'y', 'edge_index', 'train_mask', 'val_mask')
               if k not in tensors]
    if missing:
        raise CondensedFileError(f"'{path}' is not a complete condensed "
                                 f"graph: it has no {', '.join(missing)}")
    data = Data(**tensors, **meta)
    try:
        check_graph(data)
    except ValueError as e:
        raise CondensedFileError(f"'{path}' holds a malformed graph: "
                                 f"{e}") from None
    return data
