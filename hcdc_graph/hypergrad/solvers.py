r"""Solvers for the inverse-Hessian-vector product :math:`H^{-1} v`.

Every solver is a small configuration object with one method,
``solve(hvp, v)``: ``hvp`` maps a flat vector :math:`u` to :math:`H u` and
``v`` is a flat vector. Nothing here knows about models or graphs.
"""
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

HVP = Callable[[Tensor], Tensor]


class HypergradientDivergenceError(ArithmeticError):
    """The linear solve behind a hypergradient diverged or broke down (step
    size too large for the curvature, or curvature that is not positive)."""


def _damped(hvp: HVP, damping: float) -> HVP:
    if damping < 0:
        raise ValueError(f"'damping' must be non-negative (got {damping})")
    if damping == 0:
        return hvp
    return lambda u: hvp(u) + damping * u


def top_eigenvalue(hvp: HVP, dim: int, like: Tensor, iters: int = 20,
                   seed: int = 0) -> float:
    """Estimates the eigenvalue of largest magnitude of :math:`H` by power
    iteration (deterministic start from ``seed``), signed by its Rayleigh
    quotient."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(dim, generator=gen, dtype=like.dtype).to(like.device)
    u = u / u.norm()
    mu = 0.0
    for _ in range(iters):
        hu = hvp(u)
        mu = float(u @ hu)
        norm = hu.norm()
        if not torch.isfinite(norm) or norm == 0:
            break
        u = hu / norm
    return mu


@dataclass
class Neumann:
    r"""Truncated Neumann series (Lorraine et al., 2020):

    .. math::
        H^{-1} v \approx \alpha \sum_{j=0}^{\text{steps}} (I - \alpha H)^j v.

    Memory is constant in ``steps``: each term is one Hessian-vector product
    on the previous term, and no autograd graph is kept between terms.

    The series converges when every eigenvalue :math:`\mu` of :math:`H`
    satisfies :math:`0 < \alpha\mu < 2`. **Divergence guard**: the norm of
    :math:`(I - \alpha H)^j v` never grows under that condition, so a term
    more than ``growth`` times the smallest one so far (or a non-finite one)
    means divergence. Then, with ``on_divergence='rescale'`` (default), the
    top eigenvalue :math:`\mu_{\max}` is estimated by power iteration; if
    :math:`\alpha\mu_{\max} \ge 1.9` the step size was the cause and the series
    is re-run once with :math:`\alpha = 1/\mu_{\max}` (with a warning). If the
    step size was not the cause (negative curvature: no :math:`\alpha`
    helps), or the re-run diverges too, or ``on_divergence='raise'``, a
    :class:`HypergradientDivergenceError` is raised. It never returns NaN.
    ``damping`` :math:`\delta` solves with :math:`H + \delta I` instead, the
    usual remedy for slightly negative curvature.
    """
    steps: int = 20
    alpha: float = 0.01
    damping: float = 0.0
    on_divergence: str = 'rescale'
    growth: float = 1.25

    def __post_init__(self):
        if self.steps < 0 or self.alpha <= 0:
            raise ValueError("Neumann needs 'steps' >= 0 and 'alpha' > 0")
        if self.on_divergence not in ('rescale', 'raise'):
            raise ValueError("'on_divergence' must be 'rescale' or 'raise'")

    def _series(self, hvp: HVP, v: Tensor, alpha: float):
        term, total = v, v.clone()
        v_norm = float(v.norm())
        smallest = v_norm
        for _ in range(self.steps):
            term = term - alpha * hvp(term)
            total = total + term
            norm = float(term.norm())
            if not math.isfinite(norm) or (
                    norm > self.growth * smallest and norm > 1e-6 * v_norm):
                return None
            smallest = min(smallest, norm)
        return alpha * total

    def solve(self, hvp: HVP, v: Tensor) -> Tensor:
        hvp = _damped(hvp, self.damping)
        out = self._series(hvp, v, self.alpha)
        if out is not None:
            return out
        if self.on_divergence == 'raise':
            raise HypergradientDivergenceError(
                f"Neumann series diverged (alpha={self.alpha}): alpha times "
                f"the largest Hessian eigenvalue must stay below 2 and the "
                f"Hessian must be positive definite")
        mu = top_eigenvalue(hvp, v.numel(), v)
        if mu > 0 and self.alpha * mu >= 1.9:
            alpha = 1.0 / mu
            warnings.warn(f"Neumann series diverged with alpha={self.alpha} "
                          f"(largest Hessian eigenvalue ~{mu:.3g}); re-running "
                          f"with alpha={alpha:.3g}")
            out = self._series(hvp, v, alpha)
            if out is not None:
                return out
        raise HypergradientDivergenceError(
            f"Neumann series diverged and a smaller step size does not help "
            f"(alpha={self.alpha}, dominant Hessian eigenvalue ~{mu:.3g}): "
            f"the training-loss Hessian is not positive definite at these "
            f"parameters (not trained to a minimum, or non-convex curvature). "
            f"Train closer to a minimum, add weight decay, or set 'damping'.")


@dataclass
class ConjugateGradient:
    r"""Conjugate gradients on :math:`(H + \delta I) x = v`, stopped after
    ``steps`` iterations or when :math:`\|r\| \le` ``tol`` :math:`\|v\|`.
    Raises :class:`HypergradientDivergenceError` on non-positive curvature
    (:math:`p^\top H p \le 0`), where CG is undefined."""
    steps: int = 50
    tol: float = 1e-6
    damping: float = 0.0

    def solve(self, hvp: HVP, v: Tensor) -> Tensor:
        hvp = _damped(hvp, self.damping)
        x = torch.zeros_like(v)
        r, p = v.clone(), v.clone()
        rr = r @ r
        stop = self.tol * float(v.norm())
        for _ in range(self.steps):
            if math.sqrt(float(rr)) <= stop:
                break
            hp = hvp(p)
            curvature = p @ hp
            if not float(curvature) > 0:
                raise HypergradientDivergenceError(
                    f"Conjugate gradients met non-positive curvature "
                    f"(p'Hp = {float(curvature):.3g}): the training-loss "
                    f"Hessian is not positive definite here; train closer to "
                    f"a minimum or set 'damping'")
            step = rr / curvature
            x = x + step * p
            r = r - step * hp
            rr_new = r @ r
            p = r + (rr_new / rr) * p
            rr = rr_new
        return x


@dataclass
class Exact:
    r"""Builds the dense Hessian from ``dim`` Hessian-vector products and
    solves :math:`(H + \delta I) x = v` in float64. For small problems and
    tests (refuses more than ``max_dim`` parameters)."""
    damping: float = 0.0
    max_dim: int = 5000

    def solve(self, hvp: HVP, v: Tensor) -> Tensor:
        n = v.numel()
        if n > self.max_dim:
            raise ValueError(f"Exact solver refuses {n} parameters (max_dim="
                             f"{self.max_dim}); use Neumann or "
                             f"ConjugateGradient")
        hvp = _damped(hvp, self.damping)
        eye = torch.eye(n, dtype=v.dtype, device=v.device)
        H = torch.stack([hvp(e) for e in eye], dim=1).double()
        H = (H + H.t()) / 2
        try:
            x = torch.linalg.solve(H, v.double())
        except RuntimeError as e:  # singular
            raise HypergradientDivergenceError(
                f"The training-loss Hessian is singular: {e}") from e
        return x.to(v.dtype)
