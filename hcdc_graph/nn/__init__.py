"""Graph layers and models of the HCDC search space."""
from hcdc_graph.nn.poly_laplacian_conv import PolyLaplacianConv
from hcdc_graph.nn.poly_gnn import PolyGNN
from hcdc_graph.nn.pge import PairwiseGraphGenerator
from hcdc_graph.nn.graphnas_conv import GraphNASConv

__all__ = ['PolyLaplacianConv', 'PolyGNN', 'PairwiseGraphGenerator',
           'GraphNASConv']
