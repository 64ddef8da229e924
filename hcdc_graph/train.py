"""Full-batch node-classification training, deterministic under a seed."""
from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from hcdc_graph.datasets import require_finite_features, require_masks


@dataclass
class TrainResult:
    """Accuracies and cross-entropy losses of the final model (``None`` for a
    split the graph does not have)."""
    train_acc: float
    val_acc: float
    test_acc: Optional[float]
    train_loss: float
    val_loss: float
    test_loss: Optional[float]
    epochs: int

    def as_dict(self) -> dict:
        return asdict(self)


def _forward(model: torch.nn.Module, data: Data,
             coeffs: Optional[Tensor]) -> Tensor:
    kwargs = {} if coeffs is None else {'coeffs': coeffs}
    return model(data.x, data.edge_index, getattr(data, 'edge_weight', None),
                 **kwargs)


@torch.no_grad()
def evaluate_node_classifier(model: torch.nn.Module, data: Data,
                             coeffs: Optional[Tensor] = None) -> dict:
    """Accuracy and mean cross-entropy of ``model`` (in eval mode) on every
    mask that ``data`` has."""
    model.eval()
    out = _forward(model, data, coeffs)
    metrics = {}
    for split in ('train', 'val', 'test'):
        mask = getattr(data, f'{split}_mask', None)
        if mask is None or not bool(mask.any()):
            metrics[f'{split}_acc'] = metrics[f'{split}_loss'] = None
            continue
        logits, y = out[mask], data.y[mask]
        metrics[f'{split}_acc'] = float((logits.argmax(-1) == y).float()
                                        .mean())
        metrics[f'{split}_loss'] = float(F.cross_entropy(logits, y))
    return metrics


def fit_node_classifier(model: torch.nn.Module, data: Data,
                        coeffs: Optional[Tensor] = None, epochs: int = 200,
                        lr: float = 0.01, weight_decay: float = 5e-4,
                        seed: int = 0) -> TrainResult:
    """Trains ``model`` full-batch with Adam on ``data.train_mask`` and
    returns the final model's accuracies and losses on every split.

    The model is re-initialised from ``seed`` (``reset_parameters()``), so
    the result is deterministic under ``seed``. ``coeffs`` are passed to the
    model's forward (filter coefficients of a
    :class:`~hcdc_graph.nn.PolyGNN`); :obj:`None` uses the model's own.
    ``data.edge_weight`` is used when present.
    """
    require_masks(data, 'train_mask', 'val_mask')
    if epochs < 1:
        raise ValueError(f"'epochs' must be positive (got {epochs})")
    require_finite_features(data)
    torch.manual_seed(seed)
    model.reset_parameters()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr,
                                 weight_decay=weight_decay)
    mask = data.train_mask
    for _ in range(epochs):
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(_forward(model, data, coeffs)[mask],
                               data.y[mask])
        loss.backward()
        optimizer.step()
    return TrainResult(epochs=epochs,
                       **evaluate_node_classifier(model, data, coeffs))
