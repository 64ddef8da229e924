"""The message-passing layer of the GraphNAS macro search space."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.typing import OptTensor
from torch_geometric.utils import add_remaining_self_loops, softmax

ATTENTIONS = ('gat', 'gcn', 'cos', 'const', 'gat_sym', 'linear',
              'generalized_linear')
AGGREGATORS = ('sum', 'mean', 'max', 'mlp')


class GraphNASConv(MessagePassing):
    r"""One layer of the GraphNAS macro space (Gao et al., "GraphNAS: Graph
    Neural Architecture Search with Reinforcement Learning", 2019):
    multi-head messages :math:`\alpha_{ij} w_{ij} \mathbf{W}\mathbf{x}_j`
    aggregated over each node's in-neighbours and itself,

    .. math::
        \mathbf{x}_i^{\prime} = \big\Vert_{h=1}^{H} \operatorname{AGG}_{j
        \in \mathcal{N}(i) \cup \{i\}} \, \alpha^{h}_{ij}\, w_{ij}\,
        \phi\big(\mathbf{W}^{h}\mathbf{x}_j\big) + \mathbf{b}

    (heads concatenated, or averaged with ``concat=False``), where
    :math:`w_{ij}` is the edge weight (1 without, and for the self-loops)
    and the attention :math:`\alpha^h_{ij}` is, by ``att_type``, with
    :math:`\mathbf{a} = [\mathbf{a}_l \Vert \mathbf{a}_r]` per head and
    :math:`\mathbf{h}_i = \mathbf{W}^h \mathbf{x}_i`:

    - ``'gat'``: :math:`\mathrm{LeakyReLU}(\mathbf{a}^\top[\mathbf{h}_i
      \Vert \mathbf{h}_j])`; ``'gat_sym'``: the same plus its value with
      :math:`i` and :math:`j` swapped;
    - ``'cos'``: :math:`\langle \mathbf{a}_l \odot \mathbf{h}_i,
      \mathbf{a}_r \odot \mathbf{h}_j \rangle`;
    - ``'linear'``: :math:`\tanh((\mathbf{a}_l + \mathbf{a}_r)^\top
      \mathbf{h}_j)`;
    - ``'generalized_linear'``: :math:`\mathbf{u}^\top \tanh(\mathbf{a}_l
      \odot \mathbf{h}_i + \mathbf{a}_r \odot \mathbf{h}_j)`;

    each normalized by a softmax over the node's incoming edges; or no
    learned attention, ``'gcn'``: :math:`1/\sqrt{d_i d_j}` (degrees with
    self-loops), ``'const'``: 1. ``aggr``: ``'sum'``, ``'mean'``, ``'max'``
    (PyG's aggregations), or ``'mlp'``: a sum after a per-message MLP
    :math:`\phi` (two linear maps through ``mlp_dim`` units, as GraphNAS
    has it; :math:`\phi` is the identity otherwise).

    Where this differs from GraphNAS's own code: edge weights are
    multiplied into the messages (GraphNAS and PyG's ``GATConv`` ignore
    them, which would silently binarise a condensed graph's learned
    weights); the softmax runs over each node's *incoming* edges (the
    nodes that receive the messages; GraphNAS's code groups by the first
    row of ``edge_index``); GraphNAS also applies the per-message MLP for
    ``'mean'`` and ``'max'``, here only for ``'mlp'``; attention dropout
    is applied to the normalized coefficients of the learned attentions.

    Args:
        in_channels (int): Size of each input sample.
        out_channels (int): Size of each output sample per head.
        heads (int, optional): Number of heads. (default: :obj:`1`)
        att_type (str, optional): One of :data:`ATTENTIONS`.
            (default: :obj:`'gat'`)
        aggr (str, optional): One of :data:`AGGREGATORS`.
            (default: :obj:`'sum'`)
        concat (bool, optional): Concatenate the heads (else average).
            (default: :obj:`True`)
        dropout (float, optional): Dropout of the attention coefficients
            in training. (default: :obj:`0.0`)
        negative_slope (float, optional): LeakyReLU slope. (default: 0.2)
        mlp_dim (int, optional): Hidden size of the ``'mlp'`` aggregator.
            (default: :obj:`128`)
        bias (bool, optional): Learn an additive bias. (default: :obj:`True`)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`,
          ``edge_index`` :math:`(2, |\mathcal{E}|)`, optional
          ``edge_weight`` :math:`(|\mathcal{E}|)`
        - **output:** :math:`(|\mathcal{V}|, H \cdot F_{out})`, or
          :math:`(|\mathcal{V}|, F_{out})` with ``concat=False``
    """
    def __init__(self, in_channels: int, out_channels: int, heads: int = 1,
                 att_type: str = 'gat', aggr: str = 'sum',
                 concat: bool = True, dropout: float = 0.0,
                 negative_slope: float = 0.2, mlp_dim: int = 128,
                 bias: bool = True):
        if att_type not in ATTENTIONS:
            raise ValueError(f"Unknown att_type '{att_type}'; choose one of "
                             f"{', '.join(ATTENTIONS)}")
        if aggr not in AGGREGATORS:
            raise ValueError(f"Unknown aggr '{aggr}'; choose one of "
                             f"{', '.join(AGGREGATORS)}")
        if heads < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError("'heads', 'in_channels' and 'out_channels' must "
                             "be positive")
        super().__init__(aggr='add' if aggr in ('sum', 'mlp') else aggr,
                         node_dim=0)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.heads, self.att_type, self.agg_type = heads, att_type, aggr
        self.concat, self.dropout = concat, dropout
        self.negative_slope = negative_slope
        self.lin = torch.nn.Linear(in_channels, heads * out_channels,
                                   bias=False)
        self.att = torch.nn.Parameter(torch.empty(1, heads, 2 * out_channels))
        self.att_out = torch.nn.Linear(out_channels, 1, bias=False) \
            if att_type == 'generalized_linear' else None
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(out_channels, mlp_dim),
            torch.nn.Linear(mlp_dim, out_channels)) if aggr == 'mlp' else None
        size = heads * out_channels if concat else out_channels
        self.bias = torch.nn.Parameter(torch.empty(size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        glorot(self.lin.weight)
        glorot(self.att)
        if self.att_out is not None:
            glorot(self.att_out.weight)
        if self.mlp is not None:
            for layer in self.mlp:
                glorot(layer.weight)
                zeros(layer.bias)
        zeros(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor,
                edge_weight: OptTensor = None) -> Tensor:
        n = x.size(0)
        if edge_weight is None:
            edge_weight = x.new_ones(edge_index.size(1))
        edge_index, edge_weight = add_remaining_self_loops(
            edge_index, edge_weight, 1.0, n)
        norm: Optional[Tensor] = None
        if self.att_type == 'gcn':
            _, norm = gcn_norm(edge_index, None, n, add_self_loops=False,
                               dtype=x.dtype)
        h = self.lin(x).view(n, self.heads, self.out_channels)
        out = self.propagate(edge_index, h=h, edge_weight=edge_weight,
                             norm=norm, size=(n, n))
        out = out.reshape(n, -1) if self.concat else out.mean(dim=1)
        return out if self.bias is None else out + self.bias

    def message(self, h_i: Tensor, h_j: Tensor, edge_weight: Tensor,
                norm: OptTensor, index: Tensor, ptr: OptTensor,
                size_i: Optional[int]) -> Tensor:
        if self.att_type == 'const':
            alpha = h_j.new_ones(h_j.size(0), self.heads)
        elif self.att_type == 'gcn':
            alpha = norm.view(-1, 1).expand(-1, self.heads)
        else:
            alpha = softmax(self._score(h_i, h_j), index, ptr, size_i)
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        message = h_j if self.mlp is None else self.mlp(h_j)
        return (alpha * edge_weight.view(-1, 1)).unsqueeze(-1) * message

    def _score(self, h_i: Tensor, h_j: Tensor) -> Tensor:
        a_l = self.att[..., :self.out_channels]
        a_r = self.att[..., self.out_channels:]
        if self.att_type == 'gat':
            return F.leaky_relu((h_i * a_l).sum(-1) + (h_j * a_r).sum(-1),
                                self.negative_slope)
        if self.att_type == 'gat_sym':
            there = (h_i * a_l).sum(-1) + (h_j * a_r).sum(-1)
            back = (h_j * a_l).sum(-1) + (h_i * a_r).sum(-1)
            return F.leaky_relu(there, self.negative_slope) + \
                F.leaky_relu(back, self.negative_slope)
        if self.att_type == 'cos':
            return (h_i * a_l * h_j * a_r).sum(-1)
        if self.att_type == 'linear':
            return torch.tanh((h_j * (a_l + a_r)).sum(-1))
        # generalized_linear
        return self.att_out(torch.tanh(h_i * a_l + h_j * a_r)).squeeze(-1)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.out_channels}, heads={self.heads}, '
                f'att_type={self.att_type!r}, aggr={self.agg_type!r})')
