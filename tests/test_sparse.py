import torch
import pytest

from hcdc_graph.nn import PolyLaplacianConv
from hcdc_graph.sparse import (DENSE_FRACTION, constant_matmul,
                               constant_operand, csr_adjacency, csr_matmul,
                               transpose_csr, graph_inputs,
                               with_csr_adjacency)
from torch_geometric.data import Data


def _directed_graph(n=7):
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(n, (2, 20), generator=gen)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    edge_index = torch.unique(edge_index, dim=1)
    weight = torch.rand(edge_index.size(1), generator=gen) + 0.1
    return edge_index, weight


def _assert_same_to_second_order(matmul, reference, n):
    """``matmul`` and ``reference`` agree in value, gradient and
    Hessian-vector product of a nonlinear loss of their product."""
    x = torch.randn(n, 3, requires_grad=True)
    v = torch.randn(n, 3)

    def second_order(f):
        y = f(x)
        loss = (y.tanh() ** 2).sum()
        g, = torch.autograd.grad(loss, x, create_graph=True)
        hv, = torch.autograd.grad((g * v).sum(), x)
        return y, g, hv

    for a, b in zip(second_order(matmul), second_order(reference)):
        torch.testing.assert_close(a, b)


def test_csr_matmul_matches_dense_to_second_order():
    edge_index, weight = _directed_graph()
    adj = csr_adjacency(edge_index, weight, 7)
    dense = adj.to_dense()
    # adj_t convention: row i holds the edges into i.
    assert dense[edge_index[1, 0], edge_index[0, 0]] == weight[0]
    _assert_same_to_second_order(
        lambda h: csr_matmul(adj, transpose_csr(adj), h),
        lambda h: dense @ h, 7)


@pytest.mark.parametrize('n', [7, 60])  # 20 edges: dense, then sparse
def test_constant_matmul_is_dense_only_on_a_dense_graph(n):
    edge_index, weight = _directed_graph(n)
    adj = csr_adjacency(edge_index, weight, n)
    operand = constant_operand(adj)
    dense = adj._nnz() >= DENSE_FRACTION * n * n
    assert dense == (n == 7)
    assert operand.layout == (torch.strided if dense else torch.sparse_csr)
    reference = adj.to_dense()
    _assert_same_to_second_order(
        lambda h: constant_matmul(adj, operand, h), lambda h: reference @ h,
        n)


def test_csr_matmul_refuses_learned_values():
    edge_index, weight = _directed_graph()
    adj = csr_adjacency(edge_index, weight.requires_grad_(True), 7)
    with pytest.raises(ValueError, match='constant adjacency'):
        csr_matmul(adj, transpose_csr(adj), torch.randn(7, 2))


@pytest.mark.parametrize('n', [7, 60])  # dense and sparse products
@pytest.mark.parametrize('cached', [False, True])
def test_conv_gives_the_same_on_edge_index_and_csr(cached, n):
    edge_index, weight = _directed_graph(n)
    data = Data(x=torch.randn(n, 4), edge_index=edge_index,
                edge_weight=weight)
    csr = with_csr_adjacency(data)
    assert csr.adj_t.layout == torch.sparse_csr  # PyG's adj_t convention
    assert torch.equal(csr.edge_index, edge_index)  # kept, not overwritten
    assert graph_inputs(csr) == (csr.adj_t, None)
    assert with_csr_adjacency(csr) is csr
    # data itself unchanged, features shared rather than copied
    assert 'adj_t' not in data and graph_inputs(data)[1] is data.edge_weight
    assert csr.x.data_ptr() == data.x.data_ptr()
    conv = PolyLaplacianConv(4, 3, K=2, cached=cached)
    coeffs = torch.tensor([0.3, -0.7, 0.2], requires_grad=True)
    a = conv(data.x, data.edge_index, data.edge_weight, coeffs=coeffs)
    conv2 = PolyLaplacianConv(4, 3, K=2, cached=cached)
    conv2.load_state_dict(conv.state_dict())
    b = conv2(csr.x, csr.adj_t, coeffs=coeffs)
    torch.testing.assert_close(a, b)
    ga, = torch.autograd.grad(a.square().sum(), coeffs)
    gb, = torch.autograd.grad(b.square().sum(), coeffs)
    torch.testing.assert_close(ga, gb)


def test_transpose_csr_keeps_no_copy_of_a_symmetric_matrix():
    edge_index, weight = _directed_graph()
    adj = csr_adjacency(edge_index, weight, 7)
    assert transpose_csr(adj) is not adj
    torch.testing.assert_close(transpose_csr(adj).to_dense(),
                               adj.to_dense().t())
    ring = torch.stack([torch.arange(7), (torch.arange(7) + 1) % 7])
    sym = csr_adjacency(torch.cat([ring, ring.flip(0)], 1),
                        torch.rand(7).repeat(2), 7)
    assert transpose_csr(sym) is sym
