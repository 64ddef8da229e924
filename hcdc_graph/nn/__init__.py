"""Graph layers and models of the HCDC search space."""
from hcdc_graph.nn.poly_laplacian_conv import PolyLaplacianConv
from hcdc_graph.nn.poly_gnn import PolyGNN

__all__ = ['PolyLaplacianConv', 'PolyGNN']
