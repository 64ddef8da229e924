"""Random coreset baseline."""
import torch
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from hcdc_graph.condense.base import Condenser


class RandomCondenser(Condenser):
    """Class-stratified random nodes of the original graph and their induced
    subgraph: per class, the training budget is drawn from the original
    training nodes and the validation budget from the original validation
    nodes (all of them when a class has fewer than its budget). Edge weights
    are 1."""
    method = 'random'

    def _condense(self) -> Data:
        data = self.data
        gen = torch.Generator().manual_seed(self.seed)
        train, val = self.stratified_split(gen)
        nodes = torch.cat([train, val])
        is_train = torch.arange(nodes.numel()) < train.numel()
        edge_index, _ = subgraph(nodes, data.edge_index, relabel_nodes=True,
                                 num_nodes=data.num_nodes)
        return Data(x=data.x[nodes].clone(), y=data.y[nodes].clone(),
                    edge_index=edge_index,
                    edge_weight=torch.ones(edge_index.size(1)),
                    train_mask=is_train, val_mask=~is_train,
                    original_index=nodes)
