"""Graph architecture search on original or condensed graphs: the GraphNAS
macro space, its child training recipe, and random or REINFORCE search."""
from hcdc_graph.nas.search import (STRATEGIES, ChildRecipe,
                                   ReinforceController, retrain, search,
                                   train_child)
from hcdc_graph.nas.space import (DECISIONS, Architecture, GraphNASNet,
                                  Layer)

__all__ = ['Architecture', 'Layer', 'GraphNASNet', 'DECISIONS',
           'ChildRecipe', 'ReinforceController', 'train_child', 'search',
           'retrain', 'STRATEGIES']
