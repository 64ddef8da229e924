import math

import pytest
import torch
import torch.nn.functional as F

from hcdc_graph.hypergrad import (ConjugateGradient, Exact,
                                  HypergradientDivergenceError, Neumann,
                                  hypergradient, optimize_hyperparameters,
                                  top_eigenvalue)

from conftest import minimize_lbfgs



@pytest.fixture(autouse=True)
def _float64():
    # exactness checks need double precision; restore for other modules
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def ridge_problem(seed=0, n=40, m=30, d=5):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen)
    w_true = torch.randn(d, generator=gen)
    y = X @ w_true + 0.5 * torch.randn(n, generator=gen)
    Xv = torch.randn(m, d, generator=gen)
    yv = Xv @ w_true + 0.5 * torch.randn(m, generator=gen)
    return X, y, Xv, yv


# --- ridge with λ = log weight decay -------------------------------------

def wd_losses(X, y, Xv, yv):
    def train_loss(params, hparams):
        w, = params
        return ((X @ w - y) ** 2).mean() + hparams[0].exp() * (w ** 2).sum()

    def val_loss(params, hparams):
        w, = params
        return ((Xv @ w - yv) ** 2).mean()

    return train_loss, val_loss


def wd_solution(X, y, lam):
    n, d = X.shape
    A = X.t() @ X / n + lam.exp() * torch.eye(d)
    return torch.linalg.solve(A, X.t() @ y / n)


def wd_closed_form(X, y, Xv, yv, lam):
    lam = lam.detach().requires_grad_(True)
    w = wd_solution(X, y, lam)
    loss = ((Xv @ w - yv) ** 2).mean()
    return torch.autograd.grad(loss, lam)[0]


# --- ridge with λ scaling the input features (direct term non-zero) -------

def scale_losses(X, y, Xv, yv, wd=0.1):
    def train_loss(params, hparams):
        w, = params
        return ((X * hparams[0]) @ w - y).pow(2).mean() + wd * (w ** 2).sum()

    def val_loss(params, hparams):
        w, = params
        return ((Xv * hparams[0]) @ w - yv).pow(2).mean()

    return train_loss, val_loss


def scale_solution(X, y, s, wd=0.1):
    Z = X * s
    n, d = Z.shape
    return torch.linalg.solve(Z.t() @ Z / n + wd * torch.eye(d),
                              Z.t() @ y / n)


def scale_closed_form(X, y, Xv, yv, s):
    s = s.detach().requires_grad_(True)
    w = scale_solution(X, y, s)
    return torch.autograd.grad(((Xv * s) @ w - yv).pow(2).mean(), s)[0]


def cos(a, b):
    return float(F.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def rel_err(a, b):
    return float((a - b).norm() / b.norm())


def neumann_for(hvp_scale):
    # α below 2/‖H‖ (H ≈ 2 XᵀX/n + 2e^λ I); steps enough for 1e-3 accuracy
    return Neumann(steps=400, alpha=1.0 / hvp_scale)


@pytest.mark.parametrize('kind', ['weight_decay', 'feature_scale'])
def test_ridge_hypergradient_matches_closed_form(kind):
    X, y, Xv, yv = ridge_problem()
    if kind == 'weight_decay':
        lam = torch.tensor([math.log(0.3)])
        tl, vl = wd_losses(X, y, Xv, yv)
        w = wd_solution(X, y, lam)
        truth = wd_closed_form(X, y, Xv, yv, lam)
    else:
        lam = torch.linspace(0.5, 1.5, X.size(1))
        tl, vl = scale_losses(X, y, Xv, yv)
        w = scale_solution(X, y, lam)
        truth = scale_closed_form(X, y, Xv, yv, lam)
    H_norm = float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(
        lambda w_: tl((w_, ), (lam, )), w)).max())
    for solver in (neumann_for(H_norm), ConjugateGradient(steps=50,
                                                          tol=1e-10)):
        g, = hypergradient(tl, vl, [w], [lam], solver=solver)
        assert g.shape == lam.shape
        assert cos(g, truth) >= 0.999
        assert rel_err(g, truth) <= 1e-3
    g, = hypergradient(tl, vl, [w], [lam], solver=Exact())
    assert torch.allclose(g, truth, rtol=1e-6, atol=1e-10)


def test_direct_term_is_kept():
    X, y, Xv, yv = ridge_problem()
    s = torch.ones(X.size(1))
    tl, vl = scale_losses(X, y, Xv, yv)
    w = scale_solution(X, y, s)
    g, = hypergradient(tl, vl, [w], [s], solver=Exact())
    truth = scale_closed_form(X, y, Xv, yv, s)
    # dropping the direct term gives a different (wrong) answer
    s_ = s.clone().requires_grad_(True)
    direct, = torch.autograd.grad(vl((w, ), (s_, )), s_)
    assert direct.norm() > 0.1 * truth.norm()
    assert torch.allclose(g, truth, rtol=1e-6, atol=1e-10)


def tiny_graph_problem():
    """PolyGNN on a 30-node graph trained to convergence (LBFGS, float64).

    tanh, not ReLU: LBFGS drives ReLU pre-activations onto the kink at 0,
    where the loss has no Hessian and no hypergradient exists."""
    from hcdc_graph.datasets import csbm
    from hcdc_graph.nn import PolyGNN
    data = csbm(num_nodes=30, num_classes=2, avg_degree=4, homophily=0.8,
                feature_dim=4, feature_noise=1.0, seed=0)
    x = data.x.double()
    torch.manual_seed(0)
    model = PolyGNN(4, 3, 2, K=2, dropout=0.0, act='tanh').double().eval()
    names = [n for n, _ in model.named_parameters()]
    wd = 1e-2

    def logits(params, hparams):
        return torch.func.functional_call(
            model, dict(zip(names, params)), (x, data.edge_index),
            {'coeffs': hparams[0]})

    def train_loss(params, hparams):
        out = logits(params, hparams)
        return F.cross_entropy(out[data.train_mask | data.test_mask],
                               data.y[data.train_mask | data.test_mask]) + \
            wd * sum((p ** 2).sum() for p in params)

    def val_loss(params, hparams):
        return F.cross_entropy(logits(params, hparams)[data.val_mask],
                               data.y[data.val_mask])

    lam = torch.tensor([0.8, -0.6, 0.1])
    params = minimize_lbfgs(train_loss, list(model.parameters()), (lam, ))
    return train_loss, val_loss, params, lam


def test_neumann_and_cg_agree_with_exact_on_polygnn():
    tl, vl, params, lam = tiny_graph_problem()
    grad = torch.autograd.grad(tl(params, (lam, )), params)
    assert max(float(g.abs().max()) for g in grad) < 1e-6  # converged
    exact, = hypergradient(tl, vl, params, [lam], solver=Exact())
    cg, = hypergradient(tl, vl, params, [lam],
                        solver=ConjugateGradient(steps=200, tol=1e-10))
    assert cos(cg, exact) >= 0.999 and rel_err(cg, exact) <= 1e-3
    neumann, = hypergradient(tl, vl, params, [lam],
                             solver=Neumann(steps=3000, alpha=0.5))
    assert cos(neumann, exact) >= 0.99 and rel_err(neumann, exact) <= 0.05


def test_create_graph_matches_finite_differences():
    X, y, Xv, yv = ridge_problem(seed=1)
    lam = torch.linspace(0.5, 1.5, X.size(1))
    w = scale_solution(X, y, lam)
    tl, _ = scale_losses(X, y, Xv, yv)
    target = torch.randn(X.size(1), generator=torch.Generator()
                         .manual_seed(3))

    def objective(Xval, solver, create_graph):
        def vl(params, hparams):
            return ((Xval * hparams[0]) @ params[0] - yv).pow(2).mean()
        g, = hypergradient(tl, vl, [w], [lam], solver=solver,
                           create_graph=create_graph)
        return F.cosine_similarity(g, target, dim=0)

    for solver in (Exact(), Neumann(steps=400, alpha=0.2),
                   ConjugateGradient(steps=50, tol=1e-12)):
        Xval = Xv.clone().requires_grad_(True)
        grad, = torch.autograd.grad(objective(Xval, solver, True), Xval)
        eps = 1e-6
        idx = [(0, 0), (3, 2), (7, 4), (12, 1)]
        for i, j in idx:
            E = torch.zeros_like(Xv)
            E[i, j] = eps
            fd = (objective(Xv + E, solver, False) -
                  objective(Xv - E, solver, False)) / (2 * eps)
            assert float(grad[i, j]) == pytest.approx(float(fd), rel=1e-4,
                                                      abs=1e-8)


def quadratic(eigs):
    """Train loss ½ θᵀ diag(eigs) θ, val loss with a λ-dependent target."""
    D = torch.tensor(eigs)

    def tl(params, hparams):
        return 0.5 * (D * params[0] ** 2).sum() - hparams[0] @ params[0]

    def vl(params, hparams):
        return ((params[0] - 1.0) ** 2).sum()

    return tl, vl, D


def test_divergence_guard_rescales_step_size():
    tl, vl, D = quadratic([1.0, 5.0, 50.0])
    lam = torch.tensor([1.0, 2.0, 3.0])
    theta = lam / D  # the minimizer
    truth, = hypergradient(tl, vl, [theta], [lam], solver=Exact())
    with pytest.warns(UserWarning, match='re-running'):
        g, = hypergradient(tl, vl, [theta], [lam],
                           solver=Neumann(steps=500, alpha=0.1))  # α‖H‖ = 5
    assert torch.isfinite(g).all() and rel_err(g, truth) < 1e-3
    with pytest.raises(HypergradientDivergenceError, match='diverged'):
        hypergradient(tl, vl, [theta], [lam],
                      solver=Neumann(steps=500, alpha=0.1,
                                     on_divergence='raise'))


def test_divergence_guard_raises_on_negative_curvature():
    tl, vl, _ = quadratic([1.0, -0.5, 2.0])
    lam = torch.tensor([1.0, 2.0, 3.0])
    theta = torch.tensor([1.0, -4.0, 1.5])
    with pytest.raises(HypergradientDivergenceError, match='not positive'):
        hypergradient(tl, vl, [theta], [lam],
                      solver=Neumann(steps=200, alpha=0.1))
    with pytest.raises(HypergradientDivergenceError, match='curvature'):
        hypergradient(tl, vl, [theta], [lam],
                      solver=ConjugateGradient(steps=10))
    # damping makes it positive definite again
    g, = hypergradient(tl, vl, [theta], [lam],
                       solver=Neumann(steps=400, alpha=0.1, damping=1.0))
    assert torch.isfinite(g).all()


def test_top_eigenvalue():
    D = torch.tensor([0.5, -3.0, 2.0])
    assert top_eigenvalue(lambda u: D * u, 3, D, iters=200) == \
        pytest.approx(-3.0, rel=1e-4)


def test_bad_input():
    tl, vl, _ = quadratic([1.0, 2.0])
    lam, theta = torch.ones(2), torch.ones(2)
    with pytest.raises(ValueError, match='scalar'):
        hypergradient(tl, lambda p, h: p[0] * 1.0, [theta], [lam])
    with pytest.raises(ValueError, match='not finite'):
        hypergradient(tl, lambda p, h: p[0].sum() * float('nan'), [theta],
                      [lam])
    with pytest.raises(ValueError):
        Neumann(alpha=0)
    with pytest.raises(ValueError, match='max_dim'):
        hypergradient(tl, vl, [theta], [lam], solver=Exact(max_dim=1))


def test_optimize_hyperparameters_reaches_optimal_weight_decay():
    X, y, Xv, yv = ridge_problem(seed=2, n=30, m=200, d=8)
    tl, vl = wd_losses(X, y, Xv, yv)

    def val_at(lam):
        return float(((Xv @ wd_solution(X, y, torch.tensor([lam])) - yv)
                      ** 2).mean())

    # closed-form optimum by golden-section search on the val loss
    lo, hi = -8.0, 3.0
    phi = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
        lo, hi = (lo, b) if val_at(a) < val_at(b) else (a, hi)
    best = (lo + hi) / 2
    assert -6 < best < 1  # an interior optimum, not a boundary

    result = optimize_hyperparameters(
        tl, vl, [torch.zeros(8)], [torch.tensor([1.0])], outer_steps=150,
        inner_steps=30, inner_lr=0.05, hyper_lr=0.1, warmup_steps=200,
        solver=ConjugateGradient(steps=20, tol=1e-10))
    assert len(result.trajectory) == 151 and len(result.val_losses) == 150
    assert float(result.hparams[0]) == pytest.approx(best, abs=0.1)
    assert result.val_losses[-1] < result.val_losses[0]
