"""The GraphNAS macro search space: two message-passing layers, five
decisions each."""
import dataclasses
import json
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.resolver import activation_resolver

from hcdc_graph.nn.graphnas_conv import AGGREGATORS, ATTENTIONS, GraphNASConv

ACTIVATIONS = ('sigmoid', 'tanh', 'relu', 'linear', 'softplus',
               'leaky_relu', 'relu6', 'elu')
HEADS = (1, 2, 4, 6, 8, 16)
HIDDEN = (4, 8, 16, 32, 64, 128, 256)
# The decisions of one layer, in the controller's order, with their choices.
DECISIONS: Tuple[Tuple[str, Sequence], ...] = (
    ('attention', ATTENTIONS), ('aggregator', AGGREGATORS),
    ('activation', ACTIVATIONS), ('heads', HEADS), ('hidden', HIDDEN))
NUM_LAYERS = 2


@dataclasses.dataclass(frozen=True)
class Layer:
    attention: str
    aggregator: str
    activation: str
    heads: int
    hidden: int


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A point of the macro space: one :class:`Layer` per layer (the last
    layer's ``hidden`` is ignored: its width is the number of classes).
    JSON-able through :meth:`to_dict` / :meth:`from_dict`."""
    layers: Tuple[Layer, ...]

    @classmethod
    def sample(cls, generator: torch.Generator) -> 'Architecture':
        """A uniformly random architecture."""
        def pick(choices):
            return choices[int(torch.randint(len(choices), (1, ),
                                             generator=generator))]
        return cls(tuple(Layer(*(pick(c) for _, c in DECISIONS))
                         for _ in range(NUM_LAYERS)))

    @classmethod
    def from_indices(cls, indices: Sequence[int]) -> 'Architecture':
        """From one choice index per decision, layer by layer."""
        per = len(DECISIONS)
        if len(indices) != per * NUM_LAYERS:
            raise ValueError(f"Expected {per * NUM_LAYERS} choices")
        return cls(tuple(Layer(*(choices[indices[l * per + d]]
                                 for d, (_, choices) in enumerate(DECISIONS)))
                         for l in range(NUM_LAYERS)))

    def to_dict(self) -> Dict:
        return {'layers': [dataclasses.asdict(layer) for layer in
                           self.layers]}

    @classmethod
    def from_dict(cls, obj: Dict) -> 'Architecture':
        try:
            layers = tuple(Layer(**layer) for layer in obj['layers'])
        except (KeyError, TypeError) as e:
            raise ValueError(f"Not an architecture: {obj!r} ({e})") from None
        for layer in layers:
            for name, choices in DECISIONS:
                if getattr(layer, name) not in choices:
                    raise ValueError(f"{name} {getattr(layer, name)!r} is not "
                                     f"in the space ({choices})")
        return cls(layers)

    def __str__(self) -> str:
        return json.dumps(self.to_dict()['layers'])

    def to_model(self, in_channels: int, num_classes: int,
                 dropout: float = 0.6,
                 max_width: Optional[int] = None) -> 'GraphNASNet':
        """The network; ``max_width`` caps heads x hidden of the first
        layer (fewer heads), so that large graphs fit in memory."""
        return GraphNASNet(self, in_channels, num_classes, dropout,
                           max_width)


class GraphNASNet(torch.nn.Module):
    """Two :class:`~hcdc_graph.nn.GraphNASConv` layers as an
    :class:`Architecture` says, dropout on each layer's input; the first
    layer concatenates its heads, the last averages them into the class
    logits."""
    def __init__(self, arch: Architecture, in_channels: int,
                 num_classes: int, dropout: float = 0.6,
                 max_width: Optional[int] = None):
        super().__init__()
        self.arch, self.dropout = arch, dropout
        first, last = arch.layers
        heads = first.heads
        if max_width is not None:
            while heads > 1 and heads * first.hidden > max_width:
                heads //= 2
        self.convs = torch.nn.ModuleList([
            GraphNASConv(in_channels, first.hidden, heads, first.attention,
                         first.aggregator, concat=True, dropout=dropout),
            GraphNASConv(heads * first.hidden, num_classes, last.heads,
                         last.attention, last.aggregator, concat=False,
                         dropout=dropout)])
        self.acts = [_activation(layer.activation) for layer in arch.layers]

    def reset_parameters(self):
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: Optional[Tensor] = None) -> Tensor:
        for conv, act in zip(self.convs, self.acts):
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = act(conv(x, edge_index, edge_weight))
        return x


def _activation(name: str):
    return (lambda x: x) if name == 'linear' else activation_resolver(name)


__all__: List[str] = ['Architecture', 'Layer', 'GraphNASNet', 'DECISIONS']
