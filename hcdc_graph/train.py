"""Full-batch node-classification training, deterministic under a seed."""
from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from hcdc_graph.sparse import graph_inputs
from hcdc_graph.validation import check_graph, require_masks


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
    return model(data.x, *graph_inputs(data), **kwargs)


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
    check_graph(data)
    if epochs < 1:
        raise ValueError(f"'epochs' must be positive (got {epochs})")
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


def node_classification_losses(model: torch.nn.Module, x: Tensor, adj,
                               edge_weight: Optional[Tensor],
                               train_mask: Tensor, y_train: Tensor,
                               val_mask: Tensor, y_val: Tensor,
                               weight_decay: float = 5e-4,
                               hparam: str = 'coeffs'):
    r"""The two closures the hypergradient core needs, for a
    :class:`~hcdc_graph.nn.PolyGNN`-like ``model`` whose forward takes
    the hyperparameter as the keyword ``hparam`` (``coeffs``; a
    :class:`~hcdc_graph.nas.supernet.BenchSupernet` takes ``alpha``):

    .. math::
        \mathcal{L}_{train}(\theta, \lambda) = \mathrm{CE}_{train}
        + \tfrac{w}{2} \lVert \theta \rVert^2, \qquad
        \mathcal{L}_{val}(\theta, \lambda) = \mathrm{CE}_{val},

    both called as ``loss(params, (coeffs, ))`` with ``params`` in the
    order of ``model.parameters()`` (a functional call: the module's own
    parameters are untouched). The model should be in eval mode or have no
    dropout, so that the losses are deterministic.
    """
    names = [n for n, _ in model.named_parameters()]

    def logits(params, hparams):
        return torch.func.functional_call(
            model, dict(zip(names, params)), (x, adj, edge_weight),
            {hparam: hparams[0]})

    def train_loss(params, hparams):
        ce = F.cross_entropy(logits(params, hparams)[train_mask], y_train)
        return ce + 0.5 * weight_decay * sum((p ** 2).sum() for p in params)

    def val_loss(params, hparams):
        return F.cross_entropy(logits(params, hparams)[val_mask], y_val)

    return train_loss, val_loss


def graph_losses(model: torch.nn.Module, data: Data,
                 weight_decay: float = 5e-4, hparam: str = 'coeffs'):
    """:func:`node_classification_losses` over ``data``'s own
    ``train_mask`` and ``val_mask`` nodes. ``data.edge_weight`` is used when
    present; a CSR ``data.adj_t`` (from
    :func:`~hcdc_graph.sparse.with_csr_adjacency`, for large graphs) is used
    instead when there is one."""
    require_masks(data, 'train_mask', 'val_mask')
    train, val = data.train_mask, data.val_mask
    return node_classification_losses(
        model, data.x, *graph_inputs(data), train, data.y[train], val,
        data.y[val], weight_decay, hparam)
