r"""The hypergradient core: implicit differentiation over plain tensors.

Pure functions of loss closures and tensors, with no graph code, so the
graph condensers and the image submodule share it unchanged.

.. code-block:: python

    from hcdc_graph.hypergrad import hypergradient, Neumann
    g = hypergradient(train_loss, val_loss, params, hparams,
                      solver=Neumann(steps=20, alpha=0.01))
"""
from hcdc_graph.hypergrad.hpo import HPOResult, optimize_hyperparameters
from hcdc_graph.hypergrad.implicit import hypergradient
from hcdc_graph.hypergrad.solvers import (ConjugateGradient, Exact,
                                          HypergradientDivergenceError,
                                          Neumann, top_eigenvalue)

__all__ = ['hypergradient', 'Neumann', 'ConjugateGradient', 'Exact',
           'HypergradientDivergenceError', 'top_eigenvalue',
           'optimize_hyperparameters', 'HPOResult']
