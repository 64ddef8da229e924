"""Ranking configurations by validation results (graph and image evaluation
alike; no graph code)."""
import numpy as np


def rank_by_accuracy(acc: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Ranks (0 = worst) by accuracy, ties broken by lower validation loss
    (few validation samples give many accuracy ties)."""
    order = np.lexsort((-np.asarray(loss), np.asarray(acc)))
    ranks = np.empty(len(acc))
    ranks[order] = np.arange(len(acc))
    return ranks
