"""The NAS-Bench-Graph supernet and HCDC calibrated for architectures."""
import pytest
import torch

from hcdc_graph import HCDCCondenser
from hcdc_graph.datasets import csbm
from hcdc_graph.nas.bench import LINKS, OPS, BenchArch
from hcdc_graph.nas.supernet import BenchSupernet, one_hot_alpha, sample_space
from hcdc_graph.train import graph_losses

FAST = dict(hidden=8, num_configs=2, trajectory_steps=1, epochs=2,
            train_epochs=20, neumann_steps=3, neumann_alpha=1e-3,
            neumann_damping=0.1, progress=False, space='nas-bench-graph')


def tiny_graph():
    data = csbm(num_nodes=60, num_classes=3, avg_degree=4, homophily=0.5,
                feature_dim=6, seed=0)
    return data


@pytest.mark.parametrize('link', LINKS)
def test_supernet_mixes_every_op_and_differentiates_in_alpha(link):
    data = tiny_graph()
    net = BenchSupernet(link, 6, 3, dim=8)
    alpha = torch.zeros(4, len(OPS), requires_grad=True)
    out = net(data.x, data.edge_index, alpha=alpha)
    assert out.shape == (60, 3) and torch.isfinite(out).all()
    grad, = torch.autograd.grad(out.square().sum(), alpha)
    # every op of every node moves the output
    assert (grad.abs() > 0).all()
    # a one-hot alpha of large magnitude is one architecture: the other
    # ops' weights vanish
    arch = BenchArch(link, ('gcn', 'skip', 'gat', 'fc'))
    sharp = net(data.x, data.edge_index, alpha=one_hot_alpha(arch, 50.0))
    other = net(data.x, data.edge_index,
                alpha=one_hot_alpha(BenchArch(link, ('sage',) * 4), 50.0))
    assert not torch.allclose(sharp, other)
    net.reset_parameters()
    assert 'link=' in repr(net)


def test_supernet_edge_weights_and_bad_input():
    data = tiny_graph()
    net = BenchSupernet(LINKS[0], 6, 3, dim=4)
    alpha = torch.zeros(4, len(OPS))
    plain = net(data.x, data.edge_index, alpha=alpha)
    ones = torch.ones(data.edge_index.size(1))
    assert torch.equal(net(data.x, data.edge_index, ones, alpha=alpha), plain)
    assert not torch.allclose(net(data.x, data.edge_index, 0.5 * ones,
                                  alpha=alpha), plain)
    with pytest.raises(ValueError, match='shape'):
        net(data.x, data.edge_index, alpha=torch.zeros(4, 3))
    with pytest.raises(ValueError, match='link'):
        BenchSupernet((0, 1, 0, 0), 6, 3)


def test_space_sample_and_one_hot():
    first = sample_space(20, torch.Generator().manual_seed(3))
    again = sample_space(20, torch.Generator().manual_seed(3))
    assert first == again and len({a.bench_hash() for a in first}) > 1
    alpha = one_hot_alpha(first[0], 2.0)
    assert alpha.shape == (4, len(OPS)) and alpha.sum() == 8.0
    assert tuple(OPS[i] for i in alpha.argmax(-1)) == first[0].ops
    with pytest.raises(ValueError):
        sample_space(0, torch.Generator())


def test_supernet_losses_take_alpha_as_the_hyperparameter():
    data = csbm(num_nodes=80, num_classes=2, avg_degree=4, homophily=0.5,
                feature_dim=6, seed=1, train_ratio=0.3, val_ratio=0.3)
    net = BenchSupernet(LINKS[3], 6, 2, dim=4)
    train_loss, val_loss = graph_losses(net, data, hparam='alpha')
    params = list(net.parameters())
    alpha = torch.zeros(4, len(OPS), requires_grad=True)
    grad, = torch.autograd.grad(val_loss(params, (alpha, )), alpha)
    assert grad.abs().sum() > 0


@pytest.fixture(scope='module')
def graph():
    data = csbm(num_nodes=400, num_classes=2, avg_degree=6, homophily=0.4,
                feature_dim=8, seed=0, train_ratio=0.2, val_ratio=0.2)
    data.name = 'csbm-supernet'
    return data


def test_hcdc_calibrates_for_the_architecture_space(graph):
    hcdc = HCDCCondenser(graph, 0.05, seed=1, **FAST)
    condensed = hcdc.fit()
    points = FAST['num_configs'] * (FAST['trajectory_steps'] + 1)
    assert hcdc.configs_.shape == (points, 4, len(OPS))
    assert len(hcdc.links_) == points and all(l in LINKS for l in
                                              hcdc.links_)
    # the trajectory moved the architecture logits
    assert not torch.equal(hcdc.configs_[0], hcdc.configs_[1])
    assert len(hcdc.loss_history_) == FAST['epochs']
    # the alignment moved the validation nodes' neighbourhood scales
    assert not torch.allclose(hcdc.scales_, torch.ones_like(hcdc.scales_))
    assert torch.isfinite(condensed.x).all()
    again = HCDCCondenser(graph, 0.05, seed=1, **FAST).fit()
    assert torch.equal(condensed.x, again.x)
    # the filter space calibrates other scales from the same nodes
    filters = HCDCCondenser(graph, 0.05, seed=1,
                            **{**FAST, 'space': 'filters'}).fit()
    assert torch.equal(filters.original_index, condensed.original_index)
    assert not torch.equal(filters.x, condensed.x)


def test_hcdc_space_options_are_checked(graph):
    with pytest.raises(ValueError, match='space'):
        HCDCCondenser(graph, 0.05, space='darts')
    with pytest.raises(ValueError, match='selection_configs'):
        HCDCCondenser(graph, 0.05, space='nas-bench-graph',
                      selection_configs=10)
    with pytest.raises(ValueError, match='temperature'):
        HCDCCondenser(graph, 0.05, space='nas-bench-graph', temperature=0)
    with pytest.raises(ValueError, match='neumann_damping'):
        HCDCCondenser(graph, 0.05, neumann_damping=-1.0)
