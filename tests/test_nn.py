import pytest
import torch
from torch_geometric.nn import GCNConv
from torch_geometric.utils import (get_laplacian, to_dense_adj,
                                   to_torch_csr_tensor)

from hcdc_graph.nn import PolyGNN, PolyLaplacianConv


def ring_graph(n=10):
    src = torch.arange(n)
    dst = (src + 1) % n
    extra = torch.tensor([[0, 2, 5], [5, 7, 9]]) % n
    ei = torch.cat([torch.stack([src, dst]), extra], dim=1)
    return torch.cat([ei, ei.flip(0)], dim=1)


def test_gcn_filter_equals_gcnconv():
    torch.manual_seed(0)
    x, ei = torch.randn(10, 6), ring_graph()
    gcn = GCNConv(6, 4)
    for K, coeffs in ((1, [1., -1.]), (2, [1., -1., 0.])):
        conv = PolyLaplacianConv(6, 4, K=K)
        conv.lin.weight.data.copy_(gcn.lin.weight.data)
        conv.bias.data.copy_(torch.randn(4))
        gcn.bias.data.copy_(conv.bias.data)
        out = conv(x, ei, coeffs=torch.tensor(coeffs))
        assert torch.allclose(out, gcn(x, ei), atol=1e-5)
        # the default buffer is the GCN filter
        assert torch.allclose(conv(x, ei), out, atol=1e-6)


def test_edge_weight_and_csr_agree_with_gcnconv():
    torch.manual_seed(1)
    x, ei = torch.randn(10, 6), ring_graph()
    w = (torch.rand(ei.size(1) // 2) + 0.1).repeat(2)  # symmetric weights
    gcn = GCNConv(6, 3)
    conv = PolyLaplacianConv(6, 3, K=1)
    conv.lin.weight.data.copy_(gcn.lin.weight.data)
    expected = gcn(x, ei, w)
    assert torch.allclose(conv(x, ei, w), expected, atol=1e-5)
    adj = to_torch_csr_tensor(ei, w, size=(10, 10))
    assert torch.allclose(conv(x, adj), expected, atol=1e-5)


def _dense_operator(conv, n, *graph):
    """The n x n matrix C(λ) that `conv` applies (weight = I, no bias)."""
    conv.lin.weight.data.copy_(torch.eye(n))
    return conv(torch.eye(n), *graph)


@pytest.mark.parametrize('layout', ['edge_index', 'csr'])
def test_no_self_loops_is_get_laplacian(layout):
    # ChebNet's operator: exactly PyG's symmetric normalized Laplacian of the
    # graph without self-loops, even when the input has some (and an
    # isolated node, whose row is the identity's).
    torch.manual_seed(0)
    n = 9
    ei = ring_graph(8)
    w = (torch.rand(ei.size(1) // 2) + 0.1).repeat(2)
    ei = torch.cat([ei, torch.tensor([[3, 6], [3, 6]])], dim=1)
    w = torch.cat([w, torch.tensor([2.0, 0.5])])
    index, value = get_laplacian(ei, w, normalization='sym', num_nodes=n)
    lap = to_dense_adj(index, edge_attr=value, max_num_nodes=n)[0]
    coeffs = torch.tensor([0.3, -0.7, 0.4])
    expected = coeffs[0] * torch.eye(n) + coeffs[1] * lap + \
        coeffs[2] * lap @ lap
    graph = (ei, w) if layout == 'edge_index' else \
        (to_torch_csr_tensor(ei, w, size=(n, n)), )
    conv = PolyLaplacianConv(n, n, K=2, bias=False, self_loops=False)
    conv.coeffs.copy_(coeffs)
    assert torch.allclose(_dense_operator(conv, n, *graph), expected,
                          atol=1e-5)
    # the isolated node 8 sees h(1) = Σ λ_k; with self-loops it sees h(0)
    assert torch.isclose(expected[8, 8], coeffs.sum())
    with_loops = PolyLaplacianConv(n, n, K=2, bias=False)
    with_loops.coeffs.copy_(coeffs)
    dense = _dense_operator(with_loops, n, *graph)
    assert torch.isclose(dense[8, 8], coeffs[0])
    assert not torch.allclose(dense, expected, atol=1e-2)


def test_coeffs_are_not_parameters():
    model = PolyGNN(5, 8, 3, K=2)
    names = [n for n, _ in model.named_parameters()]
    assert not any('coeffs' in n for n in names)
    hp = model.hyperparameters()
    assert len(hp) == 1 and hp[0].shape == (3, )
    assert all(h is not p for h in hp for p in model.parameters())
    unshared = PolyGNN(5, 8, 3, K=3, shared_coeffs=False)
    assert [h.shape for h in unshared.hyperparameters()] == [(4, ), (4, )]


def test_output_derivative_wrt_coeffs_matches_finite_differences():
    torch.manual_seed(0)
    x, ei = torch.randn(10, 5, dtype=torch.double), ring_graph()
    model = PolyGNN(5, 8, 3, K=2, dropout=0.0).double().eval()
    coeffs = torch.tensor([0.7, -0.4, 0.2], dtype=torch.double,
                          requires_grad=True)
    probe = torch.randn(10, 3, dtype=torch.double)

    def f(c):
        return (model(x, ei, coeffs=c) * probe).sum()

    grad, = torch.autograd.grad(f(coeffs), coeffs)
    eps = 1e-6
    fd = torch.stack([
        (f(coeffs.detach() + eps * e) - f(coeffs.detach() - eps * e)) /
        (2 * eps) for e in torch.eye(3, dtype=torch.double)
    ])
    assert torch.allclose(grad, fd, rtol=1e-6, atol=1e-8)


def _flat_loss(model, x, adj, y, coeffs):
    params = dict(model.named_parameters())
    shapes = [(n, p.shape, p.numel()) for n, p in params.items()]

    def loss(flat):
        out, i = {}, 0
        for n, s, k in shapes:
            out[n] = flat[i:i + k].view(s)
            i += k
        logits = torch.func.functional_call(model, out, (x, adj),
                                            {'coeffs': coeffs})
        return torch.nn.functional.cross_entropy(logits, y)

    flat = torch.cat([p.detach().flatten() for p in params.values()])
    return loss, flat


@pytest.mark.parametrize('self_loops', [True, False])
@pytest.mark.parametrize('layout', ['edge_index', 'csr'])
def test_hvp_matches_dense_hessian(layout, self_loops):
    torch.manual_seed(0)
    n = 8
    x = torch.randn(n, 3, dtype=torch.double)
    y = torch.randint(2, (n, ))
    ei = ring_graph(n)
    adj = ei if layout == 'edge_index' else to_torch_csr_tensor(
        ei, torch.ones(ei.size(1), dtype=torch.double), size=(n, n))
    model = PolyGNN(3, 4, 2, K=2, dropout=0.0,
                    self_loops=self_loops).double().eval()
    coeffs = torch.tensor([0.5, -0.8, 0.3], dtype=torch.double)
    loss, flat = _flat_loss(model, x, adj, y, coeffs)
    flat.requires_grad_(True)
    g, = torch.autograd.grad(loss(flat), flat, create_graph=True)
    v = torch.randn_like(flat)
    hv, = torch.autograd.grad(g, flat, v)
    H = torch.autograd.functional.hessian(loss, flat.detach())
    assert torch.allclose(hv, H @ v, rtol=1e-7, atol=1e-9)
    # mixed θ-λ second derivative: d/dλ <∇θ L, v> matches finite differences
    c = coeffs.clone().requires_grad_(True)
    loss_c, _ = _flat_loss(model, x, adj, y, c)
    g, = torch.autograd.grad(loss_c(flat), flat, create_graph=True)
    mixed, = torch.autograd.grad(g @ v, c)
    eps = 1e-6

    def gv(cc):
        lc, _ = _flat_loss(model, x, adj, y, cc)
        gg, = torch.autograd.grad(lc(flat), flat)
        return gg @ v

    fd = torch.stack([(gv(coeffs + eps * e) - gv(coeffs - eps * e)) / (2 * eps)
                      for e in torch.eye(3, dtype=torch.double)])
    assert torch.allclose(mixed, fd, rtol=1e-5, atol=1e-7)


def test_fully_connected_weighted_graph():
    torch.manual_seed(0)
    n = 20
    idx = torch.combinations(torch.arange(n)).t()
    ei = torch.cat([idx, idx.flip(0)], dim=1)
    w = torch.rand(idx.size(1)).repeat(2).requires_grad_(True)
    x = torch.randn(n, 4)
    model = PolyGNN(4, 8, 3, dropout=0.0).eval()
    out = model(x, ei, w, coeffs=torch.tensor([0.3, 0.5, -0.2]))
    assert out.shape == (n, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()
    assert w.grad.abs().sum() > 0


def test_isolated_nodes_give_no_nan():
    x = torch.randn(6, 3)
    ei = torch.tensor([[0, 1], [1, 0]])  # nodes 2..5 isolated
    conv = PolyLaplacianConv(3, 2, K=2, bias=False)
    coeffs = torch.tensor([0.5, 2.0, -3.0])
    out = conv(x, ei, coeffs=coeffs)
    assert torch.isfinite(out).all()
    # L̃ is zero on an isolated node's row: only λ_0 acts on it
    assert torch.allclose(out[2:], 0.5 * conv.lin(x[2:]), atol=1e-6)


def test_bad_coeffs_raise():
    conv = PolyLaplacianConv(3, 2, K=2)
    x, ei = torch.randn(4, 3), torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match='3 filter coefficients'):
        conv(x, ei, coeffs=torch.ones(2))
    with pytest.raises(ValueError, match='finite'):
        conv(x, ei, coeffs=torch.tensor([1., float('nan'), 0.]))
    with pytest.raises(ValueError, match='one coefficient vector per layer'):
        PolyGNN(3, 4, 2, shared_coeffs=False)(x, ei, coeffs=torch.ones(3))


def test_cached_reuses_operator():
    x, ei = torch.randn(10, 3), ring_graph()
    conv = PolyLaplacianConv(3, 2, cached=True)
    first = conv(x, ei)
    # a different graph is ignored once cached (transductive use)
    assert torch.allclose(conv(x, ei[:, :4]), first)
    conv.reset_parameters()
    assert conv._cached is None


def test_repr():
    assert repr(PolyLaplacianConv(3, 2, K=4)) == \
        'PolyLaplacianConv(3, 2, K=4, self_loops=True)'
    assert 'K=2' in repr(PolyGNN(3, 4, 2))
