"""Saving and loading condensed graphs, safely.

Files hold a plain dictionary of tensors and scalars (no pickled classes), so
:func:`load` reads them with ``torch.load(weights_only=True)``: loading a file
never executes code from it.
"""
import os
from typing import Union

import torch
from torch_geometric.data import Data

FORMAT = 'hcdc-graph/condensed'
VERSION = 1
_SCALARS = (str, int, float, bool)


class CondensedFileError(ValueError):
    """A file that is not a (complete) hcdc-graph condensed graph."""


def save(data: Data, path: Union[str, os.PathLike]) -> None:
    """Writes ``data``'s tensors and scalar metadata to ``path`` (other
    attribute types are refused with a ``TypeError``)."""
    tensors, meta = {}, {}
    for key, value in data.to_dict().items():
        if isinstance(value, torch.Tensor):
            tensors[key] = value.detach().cpu()
        elif isinstance(value, _SCALARS):
            meta[key] = value
        else:
            raise TypeError(f"Cannot save attribute '{key}' of type "
                            f"{type(value).__name__}: only tensors and "
                            f"str/int/float/bool metadata are saved")
    payload = {'format': FORMAT, 'version': VERSION, 'tensors': tensors,
               'meta': meta}
    tmp = f'{path}.tmp'
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written file at ``path``


def load(path: Union[str, os.PathLike]) -> Data:
    """Reads a graph written by :func:`save`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CondensedFileError: the file is truncated, corrupt, or not an
            hcdc-graph file.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: '{path}'")
    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle, ...
        raise CondensedFileError(
            f"'{path}' is not a readable hcdc-graph file (truncated, corrupt "
            f"or of another format): {type(e).__name__}: {e}") from None
    if not isinstance(payload, dict) or payload.get('format') != FORMAT:
        raise CondensedFileError(f"'{path}' is not an hcdc-graph condensed "
                                 f"graph file")
    if payload.get('version') != VERSION:
        raise CondensedFileError(f"'{path}' has format version "
                                 f"{payload.get('version')}; this hcdc-graph "
                                 f"reads version {VERSION}")
    return Data(**payload['tensors'], **payload['meta'])
