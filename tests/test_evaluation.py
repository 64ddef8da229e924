import json
import os

import numpy as np
import pytest
import torch

from hcdc_graph.datasets import csbm
from hcdc_graph.evaluation import (Recipe, _ranks, rank_correlation,
                                   sample_filter_configs)

FAST = Recipe(hidden=8, epochs=30, dropout=0.0, seeds=(0, ))


def test_sample_filter_configs():
    configs = sample_filter_configs(80, K=2, seed=0)
    assert configs.shape == (80, 3)
    assert torch.equal(configs, sample_filter_configs(80, K=2, seed=0))
    assert not torch.equal(configs, sample_filter_configs(80, K=2, seed=1))
    mu = torch.linspace(0, 2, 201)
    response = configs @ mu.pow(torch.arange(3).view(-1, 1))
    gain = response.abs().max(1).values
    assert torch.allclose(gain, torch.ones(80), atol=1e-3)
    low = response[:, 0].abs() > response[:, -1].abs()
    assert 10 < int(low.sum()) < 70  # both low- and high-pass filters
    with pytest.raises(ValueError):
        sample_filter_configs(0)


def test_ranks_break_accuracy_ties_by_loss():
    acc = np.array([0.5, 0.5, 0.9])
    loss = np.array([1.0, 0.2, 0.1])
    assert _ranks(acc, loss).tolist() == [0, 1, 2]


def test_identical_graph_ranks_perfectly_and_ground_truth_is_cached(
        tmp_path):
    data = csbm(num_nodes=200, num_classes=2, avg_degree=6, homophily=0.45,
                feature_dim=8, seed=0)
    configs = sample_filter_configs(6, K=2, seed=0)
    result = rank_correlation(data, data, configs, FAST, cache=str(tmp_path))
    assert result.spearman == pytest.approx(1.0)
    assert result.kendall == pytest.approx(1.0)
    assert result.original_spread > 0.05  # the filters differ on this graph
    assert len(result.table) == 6
    files = os.listdir(tmp_path)
    assert len(files) == 1
    # a cached ground truth is read back, not recomputed: tamper with it
    path = tmp_path / files[0]
    obj = json.loads(path.read_text())
    obj['acc'] = obj['acc'][::-1]
    path.write_text(json.dumps(obj))
    flipped = rank_correlation(data, data, configs, FAST,
                               cache=str(tmp_path))
    assert flipped.spearman < 1.0
