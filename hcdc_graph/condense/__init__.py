"""Graph condensers: each emits a PyG ``Data`` with train/val masks."""
from hcdc_graph.condense.base import Condenser
from hcdc_graph.condense.gcond import GCondCondenser, GCondXCondenser
from hcdc_graph.condense.hcdc import HCDCCondenser
from hcdc_graph.condense.random_condenser import RandomCondenser

CONDENSERS = {
    'random': RandomCondenser,
    'gcond-x': GCondXCondenser,
    'gcond': GCondCondenser,
    'hcdc': HCDCCondenser,
}

__all__ = ['Condenser', 'RandomCondenser', 'GCondXCondenser',
           'GCondCondenser', 'HCDCCondenser', 'CONDENSERS']
