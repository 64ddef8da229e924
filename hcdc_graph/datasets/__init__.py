"""Datasets: real graphs (offline-first) and the CSBM generator."""
from hcdc_graph.datasets.csbm import csbm
from hcdc_graph.datasets.loaders import (KNOWN_DATASETS, DatasetNotFoundError,
                                         load_dataset)
from hcdc_graph.validation import (check_graph, require_finite_features,
                                   require_masks)
from hcdc_graph.paths import cache_dir, data_root

__all__ = ['load_dataset', 'csbm', 'check_graph', 'require_masks', 'require_finite_features', 'KNOWN_DATASETS',
           'DatasetNotFoundError', 'data_root', 'cache_dir']
