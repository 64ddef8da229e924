"""Saving and loading condensed graphs (and images), safely.

Files hold a plain dictionary of tensors and scalars (no pickled classes), so
:func:`load` reads them with ``torch.load(weights_only=True)``: loading a file
never executes code from it. :func:`save_payload`/:func:`load_payload` are
the format-agnostic part, shared with the image submodule (no graph code is
imported here at module level).
"""
import json
import os
from typing import Any, Dict, Optional, Tuple, Union

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


def save_payload(tensors: Dict[str, torch.Tensor], meta: Dict,
                 path: PathLike, fmt: str = FORMAT) -> None:
    """Writes tensors and scalar metadata to ``path`` atomically (other
    metadata types are refused with a ``TypeError``)."""
    for key, value in meta.items():
        if not isinstance(value, _SCALARS):
            raise TypeError(f"Cannot save attribute '{key}' of type "
                            f"{type(value).__name__}: only tensors and "
                            f"str/int/float/bool metadata are saved")
    payload = {'format': fmt, 'version': VERSION,
               'tensors': {k: v.detach().cpu() for k, v in tensors.items()},
               'meta': dict(meta)}
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
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle, ...
        raise CondensedFileError(
            f"'{path}' is not a readable hcdc-graph file (truncated, corrupt "
            f"or of another format): {type(e).__name__}: {e}") from None
    if not isinstance(payload, dict) or payload.get('format') != fmt:
        raise CondensedFileError(f"'{path}' is not an hcdc-graph file of "
                                 f"format '{fmt}'")
    if payload.get('version') != VERSION:
        raise CondensedFileError(f"'{path}' has format version "
                                 f"{payload.get('version')}; this hcdc-graph "
                                 f"reads version {VERSION}")
    return payload['tensors'], payload['meta']


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
        CondensedFileError: the file is truncated, corrupt, or not an
            hcdc-graph condensed graph.
    """
    from torch_geometric.data import Data
    tensors, meta = load_payload(path)
    return Data(**tensors, **meta)
