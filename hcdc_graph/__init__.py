"""hcdc-graph: hyperparameter-calibrated dataset condensation for PyG."""
__version__ = '0.1.0'


def __getattr__(name):
    # Lazy, so that `hcdc-graph --version` does not import torch_geometric.
    if name == 'HCDCCondenser':
        from hcdc_graph.condense import HCDCCondenser
        return HCDCCondenser
    raise AttributeError(f"module 'hcdc_graph' has no attribute '{name}'")
