"""Condensers as PyG transforms, so a condensed graph can be made (and
cached) where PyG pipelines make their data."""
from typing import Any

from torch_geometric.data import Data
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform


@functional_transform('hcdc_condense')
class Condense(BaseTransform):
    r"""Condenses a graph with one of :data:`~hcdc_graph.condense.CONDENSERS`
    (functional name: :obj:`hcdc_condense`): the transform returns the
    condensed :class:`~torch_geometric.data.Data` (training and validation
    masks, edge weights, metadata) instead of the graph it is given.

    As a ``pre_transform`` the condensed graph is computed once and cached
    in the dataset's ``processed`` folder by PyG itself::

        import torch_geometric.transforms as T
        from torch_geometric.datasets import Planetoid
        from hcdc_graph.transforms import Condense

        dataset = Planetoid(root, 'Cora', pre_transform=T.Compose([
            T.NormalizeFeatures(), Condense('gcond', ratio=0.018)]))
        condensed = dataset[0]

    Args:
        method (str, optional): ``'random'``, ``'gcond-x'``, ``'gcond'`` or
            ``'hcdc'``. (default: :obj:`'hcdc'`)
        ratio (float, optional): Synthetic training nodes over all nodes.
            (default: :obj:`0.018`, the paper's middle ratio on Cora)
        **options (optional): The condenser's other arguments (``seed``,
            ``val_ratio``, method options; ``progress`` defaults to
            :obj:`False` here).
    """
    def __init__(self, method: str = 'hcdc', ratio: float = 0.018,
                 **options: Any):
        from hcdc_graph.condense import CONDENSERS
        if method not in CONDENSERS:
            raise ValueError(f"Unknown method '{method}'; choose one of "
                             f"{', '.join(CONDENSERS)}")
        if not 0 < ratio < 1:
            raise ValueError(f"'ratio' must be in (0, 1) (got {ratio!r})")
        self.method, self.ratio = method, ratio
        self.options = {'progress': False, **options}

    def forward(self, data: Data) -> Data:
        from hcdc_graph.condense import CONDENSERS
        return CONDENSERS[self.method](data, self.ratio,
                                       **self.options).fit()

    def __repr__(self) -> str:
        options = ''.join(f', {k}={v!r}' for k, v in self.options.items()
                          if k != 'progress')
        return (f'{self.__class__.__name__}({self.method!r}, '
                f'ratio={self.ratio}{options})')
