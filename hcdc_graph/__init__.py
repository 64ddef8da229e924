"""hcdc-graph: hyperparameter-calibrated dataset condensation for PyG."""
__version__ = '0.1.0'
