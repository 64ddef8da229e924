"""The two-layer polynomial-filter GNN that defines the graph search space."""
from typing import Any, Callable, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.resolver import activation_resolver
from torch_geometric.typing import Adj, OptTensor

from hcdc_graph.nn.poly_laplacian_conv import (PolyLaplacianConv,
                                               check_coeffs, default_coeffs)

Coeffs = Union[Tensor, Sequence[Tensor]]


class PolyGNN(torch.nn.Module):
    r"""The two-layer GNN of HCDC's graph search space:

    .. math::
        f(\mathbf{X}) = C(\lambda^{(2)})\, \sigma\big(C(\lambda^{(1)})\,
        \mathbf{X} \mathbf{W}_1 + \mathbf{b}_1\big) \mathbf{W}_2 +
        \mathbf{b}_2,
        \qquad C(\lambda) = \sum_{k=0}^{K} \lambda_k \tilde{\mathbf{L}}^k,

    with :math:`\sigma` = ReLU (or ``act``) and dropout on the input and hidden features
    (training mode only). With ``shared_coeffs=True`` both layers use one
    coefficient vector :math:`\lambda^{(1)} = \lambda^{(2)} = \lambda`.

    The coefficients are hyperparameters: :meth:`hyperparameters` returns
    them and :meth:`parameters` never does. :meth:`forward` takes them as
    ``coeffs``: one tensor of :math:`K + 1` values (used by both layers), or,
    with ``shared_coeffs=False``, a sequence of two such tensors or a
    :math:`2 \times (K + 1)` tensor.

    Args:
        in_channels (int): Size of each input sample.
        hidden_channels (int): Size of the hidden layer.
        out_channels (int): Number of classes.
        K (int, optional): Degree of the polynomial filter. (default: :obj:`2`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.5`)
        shared_coeffs (bool, optional): Share one filter between the layers.
            (default: :obj:`True`)
        cached (bool, optional): Cache the normalized adjacency (transductive
            use). (default: :obj:`False`)
        act (str or Callable, optional): The non-linearity, resolved as in
            PyG's models (e.g. ``'tanh'``: a smooth activation gives a
            twice-differentiable loss, which exact hypergradient checks
            need). (default: :obj:`'relu'`)
        self_loops (bool, optional): The Laplacian of :math:`\mathbf{A} +
            \mathbf{I}` or ChebNet's of :math:`\mathbf{A}` (see
            :class:`PolyLaplacianConv`). (default: :obj:`True`)
    """
    def __init__(self, in_channels: int, hidden_channels: int,
                 out_channels: int, K: int = 2, dropout: float = 0.5,
                 shared_coeffs: bool = True, cached: bool = False,
                 act: Union[str, Callable[..., Any]] = 'relu',
                 self_loops: bool = True):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.out_channels = out_channels
        self.K = K
        self.dropout = dropout
        self.shared_coeffs = shared_coeffs
        self.self_loops = self_loops
        self.act = activation_resolver(act)
        self.conv1 = PolyLaplacianConv(in_channels, hidden_channels, K,
                                       cached=cached, self_loops=self_loops)
        self.conv2 = PolyLaplacianConv(hidden_channels, out_channels, K,
                                       cached=cached, self_loops=self_loops)
        if shared_coeffs:
            self.register_buffer('coeffs', default_coeffs(K))

    def reset_parameters(self):
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def hyperparameters(self) -> List[Tensor]:
        """The filter coefficient tensor(s): one when shared, else one per
        layer."""
        if self.shared_coeffs:
            return [self.coeffs]
        return [self.conv1.coeffs, self.conv2.coeffs]

    def set_hyperparameters(self, coeffs: Coeffs) -> None:
        """Copies ``coeffs`` (in :meth:`forward`'s format) into the buffers."""
        with torch.no_grad():
            for buf, c in zip(self.hyperparameters(), self._split(coeffs)):
                buf.copy_(c)

    def _split(self, coeffs: Optional[Coeffs]) -> List[Tensor]:
        if coeffs is None:
            return self.hyperparameters() * (2 if self.shared_coeffs else 1)
        if self.shared_coeffs:
            if not isinstance(coeffs, Tensor):
                coeffs = torch.as_tensor(coeffs, dtype=torch.float)
            c = check_coeffs(coeffs, self.K)
            return [c, c]
        if isinstance(coeffs, Tensor) and coeffs.dim() == 1:
            raise ValueError(
                "With shared_coeffs=False pass one coefficient vector per "
                f"layer, shape (2, {self.K + 1}) (got {tuple(coeffs.shape)})")
        if len(coeffs) != 2:
            raise ValueError(f"Expected 2 coefficient vectors, one per layer "
                             f"(got {len(coeffs)})")
        return [check_coeffs(c, self.K) for c in coeffs]

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None,
                coeffs: Optional[Coeffs] = None) -> Tensor:
        c1, c2 = self._split(coeffs)
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.act(self.conv1(x, edge_index, edge_weight, coeffs=c1))
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index, edge_weight, coeffs=c2)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.in_channels}, '
                f'{self.hidden_channels}, {self.out_channels}, K={self.K}, '
                f'shared_coeffs={self.shared_coeffs}, '
                f'self_loops={self.self_loops})')
