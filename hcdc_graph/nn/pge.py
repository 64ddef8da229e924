"""GCond's parameterized graph generator: a dense adjacency from features."""
import torch
from torch import Tensor
from torch.nn import BatchNorm1d, Linear, ModuleList


class PairwiseGraphGenerator(torch.nn.Module):
    r"""Scores every node pair with an MLP on their concatenated features
    (GCond's PGE, Jin et al. 2022):

    .. math::
        \mathbf{A}'_{ij} = \sigma\Big(\tfrac{1}{2}\big(\mathrm{MLP}([x_i; x_j])
        + \mathrm{MLP}([x_j; x_i])\big)\Big), \qquad \mathbf{A}'_{ii} = 0,

    symmetric with entries in :math:`(0, 1)`. The MLP has ``num_layers``
    layers with BatchNorm and ReLU between them. Its first layer is linear in
    the concatenation, :math:`W [x_i; x_j] = W_a x_i + W_b x_j`, so it is
    applied per node and summed per pair: :math:`O(n d h + n^2 h^2)` instead
    of :math:`O(n^2 d h)`.

    Args:
        in_channels (int): Node feature size.
        hidden_channels (int, optional): MLP width. (default: :obj:`128`)
        num_layers (int, optional): MLP depth. (default: :obj:`3`)
    """
    def __init__(self, in_channels: int, hidden_channels: int = 128,
                 num_layers: int = 3):
        super().__init__()
        if num_layers < 2:
            raise ValueError("'num_layers' must be at least 2")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.lin_src = Linear(in_channels, hidden_channels)
        self.lin_dst = Linear(in_channels, hidden_channels, bias=False)
        self.lins = ModuleList(
            Linear(hidden_channels, hidden_channels)
            for _ in range(num_layers - 2))
        self.norms = ModuleList(
            BatchNorm1d(hidden_channels) for _ in range(num_layers - 1))
        self.out = Linear(hidden_channels, 1)
        self.reset_parameters()

    def reset_parameters(self):
        for module in [self.lin_src, self.lin_dst, self.out, *self.lins,
                       *self.norms]:
            module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """Returns the dense :math:`n \\times n` adjacency for features
        ``x``."""
        n = x.size(0)
        h = (self.lin_src(x).unsqueeze(1) + self.lin_dst(x).unsqueeze(0))
        h = h.reshape(n * n, -1)
        for i, norm in enumerate(self.norms):
            h = norm(h).relu()
            if i < len(self.lins):
                h = self.lins[i](h)
        scores = self.out(h).view(n, n)
        adj = torch.sigmoid((scores + scores.t()) / 2)
        return adj * (1 - torch.eye(n, dtype=adj.dtype, device=adj.device))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'hidden={self.hidden_channels}, layers={self.num_layers})')
