import pytest
import torch

from hcdc_graph.image.nasbench201 import (NUM_ARCHS, arch_to_index,
                                          arch_to_string, index_to_arch,
                                          load_ground_truth, one_hot,
                                          parse_arch, read_table,
                                          sample_architectures)
from hcdc_graph.image.networks import (SuperNetwork, TinyNetwork,
                                       batch_statistics)

from conftest import data_file, minimize_lbfgs

TABLE = data_file('nasbench201', 'nats_bench_tss_200ep_test_acc.csv')
requires_table = pytest.mark.skipif(TABLE is None,
                                    reason='NAS-Bench-201 table not found')


@requires_table
def test_index_matches_every_row_of_the_benchmark_table():
    rows = read_table(TABLE)
    assert len(rows) == NUM_ARCHS == 15625
    mismatches = [k for k, row in enumerate(rows)
                  if index_to_arch(k) != row['ArchitectureString']]
    assert mismatches == []
    assert all(arch_to_index(row['ArchitectureString']) == k
               for k, row in enumerate(rows[:500]))


@requires_table
def test_ground_truth_optima():
    acc = load_ground_truth(TABLE)
    assert acc.shape == (NUM_ARCHS, ) and int(acc.argmax()) == 6111
    assert float(acc.max()) == pytest.approx(94.373, abs=1e-3)
    assert int(load_ground_truth(TABLE, 'cifar100').argmax()) == 9930
    with pytest.raises(ValueError, match='Unknown dataset'):
        load_ground_truth(TABLE, 'mnist')
    with pytest.raises(FileNotFoundError, match='NAS-Bench-201 table'):
        load_ground_truth('/nonexistent/table.csv')


def test_strings_round_trip_and_bad_strings():
    arch = (3, 3, 0, 1, 3, 4)
    text = arch_to_string(arch)
    assert text == ('|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+'
                    '|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|')
    assert parse_arch(text) == arch
    assert arch_to_index(index_to_arch(42)) == 42
    for bad in ('|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|',
                '|none~0|+|none~0|+|none~0|none~1|none~2|', 'nonsense'):
        with pytest.raises(ValueError):
            parse_arch(bad)
    with pytest.raises(ValueError, match='index'):
        index_to_arch(NUM_ARCHS)


def test_sample_architectures():
    a = sample_architectures(100, seed=0)
    assert len(set(a)) == 100 and a == sample_architectures(100, seed=0)
    assert a != sample_architectures(100, seed=1)
    assert all(0 <= i < NUM_ARCHS for i in a)


def test_network_shapes_and_size():
    x = torch.randn(2, 3, 32, 32)
    net = TinyNetwork(index_to_arch(6111), C=8, N=1)
    assert net(x).shape == (2, 10)
    assert len(net.cells) == 5  # 3 cells + 2 reduction blocks
    # NAS-Bench-201's best CIFAR-10 cell has 1.07 M parameters at C=16, N=5
    big = TinyNetwork(index_to_arch(6111), C=16, N=5)
    assert sum(p.numel() for p in big.parameters()) == 1073466
    assert SuperNetwork(C=4).forward(x, torch.rand(6, 5)).shape == (2, 10)
    with pytest.raises(ValueError, match='shape'):
        SuperNetwork(C=4)(x, torch.rand(5, 5))


@pytest.mark.parametrize('index', [0, 6111, 9930, 15624])
def test_one_hot_supernet_equals_the_discrete_network(index):
    torch.manual_seed(0)
    supernet = SuperNetwork(C=4, N=1)
    arch = index_to_arch(index)
    net = supernet.extract(arch)
    x = torch.randn(3, 3, 16, 16)
    weights = one_hot(arch)
    assert weights.sum() == 6 and set(weights.unique().tolist()) == {0, 1}
    for training in (True, False):
        supernet.train(training)
        net.train(training)
        assert torch.equal(supernet(x, weights), net(x))
    # a softmax of the one-hot vector is a different network
    assert not torch.allclose(supernet(x, weights.softmax(-1)), net(x))


def test_batch_statistics_are_what_full_batch_training_accumulates():
    torch.manual_seed(0)
    net = TinyNetwork(index_to_arch(6111), C=4)
    x = 2 * torch.randn(8, 3, 16, 16) + 1
    params = dict(net.named_parameters())
    before = {n: b.clone() for n, b in net.named_buffers()}
    stats = batch_statistics(net, list(params.values()), x)
    assert all(torch.equal(b, before[n]) for n, b in net.named_buffers())
    # one training-mode forward from reset buffers with a cumulative
    # average stores exactly the batch's statistics
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        net.train()(x)
    buffers = dict(net.named_buffers())
    assert set(stats) == {n for n in buffers if n.endswith('_mean') or
                          n.endswith('_var')}
    for name, value in stats.items():
        assert torch.allclose(value, buffers[name], atol=1e-5), name
    # in eval mode with them, an image's output no longer depends on its
    # batch, unlike in training mode
    net.eval()
    call = torch.func.functional_call
    assert torch.allclose(call(net, {**params, **stats}, (x, ))[:2],
                          call(net, {**params, **stats}, (x[:2], )),
                          atol=1e-5)
    with torch.no_grad():
        net.train()
        assert not torch.allclose(net(x)[:2], net(x[:2]), atol=1e-3)


def test_gradient_reaches_architecture_weights():
    torch.manual_seed(0)
    supernet = SuperNetwork(C=2, N=1, num_classes=3).eval()
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    alpha = torch.zeros(6, 5, dtype=torch.float64, requires_grad=True)
    supernet.double()

    def loss(a):
        return torch.nn.functional.cross_entropy(
            supernet(x.double(), a.softmax(-1)), y)

    grad, = torch.autograd.grad(loss(alpha), alpha)
    eps = 1e-6
    for e, k in ((0, 3), (5, 4), (2, 1)):
        bump = torch.zeros_like(alpha)
        bump[e, k] = eps
        fd = (loss(alpha + bump) - loss(alpha - bump)) / (2 * eps)
        assert float(grad[e, k]) == pytest.approx(float(fd.detach()), rel=1e-5,
                                                  abs=1e-9)


def test_implicit_hypergradient_matches_finite_differences_after_training():
    """The core's implicit hypergradient w.r.t. the architecture weights of a
    trained tiny supernet equals the finite difference of the optimized
    validation loss, each side retrained to convergence (LBFGS, float64).

    tanh replaces ReLU here: LBFGS drives ReLU pre-activations onto the kink,
    where the training loss has no Hessian (as in the graph test). BatchNorm
    runs in eval mode (a fixed affine map): with batch statistics the loss
    is invariant to the scale of each convolution, and LBFGS crawls along
    that flat direction."""
    from hcdc_graph.hypergrad import Exact, hypergradient
    torch.manual_seed(0)
    net = SuperNetwork(C=1, N=1, num_classes=3).double().eval()
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, torch.nn.ReLU):
                setattr(module, name, torch.nn.Tanh())
    names = [n for n, _ in net.named_parameters()]
    y = torch.arange(3).repeat(6)
    # a colour per class plus noise: a signal the network must use
    x = 2 * torch.eye(3, dtype=torch.float64)[y].view(18, 3, 1, 1) + \
        torch.randn(18, 3, 8, 8, dtype=torch.float64)

    def loss(idx):
        def closure(params, hparams):
            out = torch.func.functional_call(
                net, dict(zip(names, params)),
                (x[idx], hparams[0].softmax(-1)))
            return torch.nn.functional.cross_entropy(out, y[idx])
        return closure

    fit, val = loss(slice(0, 12)), loss(slice(12, 18))

    def train_loss(params, hparams):
        return fit(params, hparams) + 1e-3 * sum((p ** 2).sum()
                                                 for p in params)

    def trained(alpha, start):
        params = minimize_lbfgs(train_loss, start, (alpha, ), rounds=5,
                                tolerance_grad=1e-11)
        grad = torch.autograd.grad(train_loss(params, (alpha, )), params)
        assert max(float(g.abs().max()) for g in grad) < 1e-7  # converged
        return [p.detach() for p in params]

    alpha = 0.5 * torch.randn(6, 5, dtype=torch.float64)
    params = trained(alpha, list(net.parameters()))
    g, = hypergradient(train_loss, val, params, [alpha], solver=Exact())
    direct, = torch.autograd.grad(val(params, (alpha.requires_grad_(), )),
                                  alpha)
    alpha = alpha.detach()
    direction = torch.randn(6, 5, dtype=torch.float64)
    direction /= direction.norm()
    # Central differences err by O(eps^2): on one machine's trained point
    # 1e-2 missed by 3.5e-3 (relative), 5e-3 by 4.7e-4.
    eps = 5e-3
    ends = [float(val(trained(alpha + s * eps * direction, params),
                      (alpha + s * eps * direction, ))) for s in (1, -1)]
    fd = (ends[0] - ends[1]) / (2 * eps)
    assert float((g * direction).sum()) == pytest.approx(fd, rel=1e-3)
    # the implicit term matters: the direct gradient alone is far off
    assert float((direct * direction).sum()) != pytest.approx(fd, rel=0.05)
