r"""Hypergradients by the implicit function theorem."""
from typing import Callable, Sequence, Tuple

import torch
from torch import Tensor

from hcdc_graph.hypergrad.flat import flatten, grads_or_zeros, unflatten
from hcdc_graph.hypergrad.solvers import Neumann

Loss = Callable[[Sequence[Tensor], Sequence[Tensor]], Tensor]


class _InverseHessianProduct(torch.autograd.Function):
    """``solve(v)`` with ``solve`` a fixed symmetric linear map (an
    approximation of :math:`H^{-1}`): its backward applies ``solve`` again.

    This keeps the result differentiable w.r.t. ``v`` (hence w.r.t. the
    validation data, through :math:`\\nabla_\\theta L_{val}`) without
    recording the solver's iterations, so memory stays constant in the
    number of Neumann/CG steps."""

    @staticmethod
    def forward(ctx, v: Tensor, solve: Callable[[Tensor], Tensor]) -> Tensor:
        ctx.solve = solve
        return solve(v)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        return ctx.solve(grad), None


def hypergradient(train_loss: Loss, val_loss: Loss,
                  params: Sequence[Tensor], hparams: Sequence[Tensor],
                  solver=None, create_graph: bool = False
                  ) -> Tuple[Tensor, ...]:
    r"""The hypergradient :math:`\frac{d\mathcal{L}^*}{d\lambda}` of the
    optimized validation loss, by the implicit function theorem:

    .. math::
        \frac{d\mathcal{L}^*}{d\lambda} =
        \frac{\partial \mathcal{L}_{val}}{\partial \lambda}
        - \frac{\partial^2 \mathcal{L}_{train}}{\partial\lambda\,
        \partial\theta^\top} H^{-1} \nabla_\theta \mathcal{L}_{val},
        \qquad H = \frac{\partial^2 \mathcal{L}_{train}}{\partial\theta\,
        \partial\theta^\top},

    evaluated at ``params`` :math:`\theta` (assumed trained:
    :math:`\nabla_\theta \mathcal{L}_{train} \approx 0`) and ``hparams``
    :math:`\lambda`. The direct term :math:`\partial\mathcal{L}_{val} /
    \partial\lambda` is kept: it is non-zero when :math:`\lambda` enters the
    forward pass (filter coefficients, architecture weights).

    Args:
        train_loss: ``train_loss(params, hparams) -> scalar``.
        val_loss: ``val_loss(params, hparams) -> scalar``.
        params: the trained parameters :math:`\theta` (a sequence of
            tensors; detached copies are used).
        hparams: the hyperparameters :math:`\lambda` (likewise).
        solver: how :math:`H^{-1} v` is computed: :class:`Neumann`
            (default, ``Neumann()``), :class:`ConjugateGradient` or
            :class:`Exact`. Only Hessian-vector products are used.
        create_graph: keep the result differentiable w.r.t. whatever
            ``val_loss`` depends on beyond :math:`\theta` and :math:`\lambda`
            (e.g. learnable synthetic validation data). The solve is treated
            as a fixed linear map (it does not depend on the validation
            data): its backward re-applies the solver, so memory stays
            constant in the number of solver steps.

    Returns:
        A tuple of tensors shaped like ``hparams``.

    Autograd choice: plain :func:`torch.autograd.grad`. The training gradient
    is built once with ``create_graph=True`` and every Hessian-vector product
    and the mixed term backpropagate through that one graph, so the forward
    pass is not recomputed per product (as a ``torch.func.jvp``/``vjp``
    closure would), and the loss functions can call any ``nn.Module``.
    """
    if solver is None:
        solver = Neumann()
    params = tuple(p.detach().requires_grad_(True) for p in params)
    hparams = tuple(h.detach().requires_grad_(True) for h in hparams)
    if not params or not hparams:
        raise ValueError("hypergradient needs at least one parameter and one "
                         "hyperparameter tensor")

    with torch.enable_grad():
        train_grad = torch.autograd.grad(train_loss(params, hparams), params,
                                         create_graph=True)
        val = val_loss(params, hparams)
        if val.dim() != 0:
            raise ValueError(f"val_loss must return a scalar (got shape "
                             f"{tuple(val.shape)})")
        if not torch.isfinite(val):
            raise ValueError(f"val_loss is not finite ({float(val.detach())})")
        grads = torch.autograd.grad(val, params + hparams,
                                    create_graph=create_graph,
                                    allow_unused=True)
        val_grad = grads_or_zeros(grads[:len(params)], params)
        direct = grads_or_zeros(grads[len(params):], hparams)

        def hvp(u: Tensor) -> Tensor:
            out = torch.autograd.grad(train_grad, params,
                                      grad_outputs=unflatten(u, params),
                                      retain_graph=True, allow_unused=True)
            return flatten(grads_or_zeros(out, params))

        def solve(v: Tensor) -> Tensor:
            out = solver.solve(hvp, v)
            if not torch.isfinite(out).all():
                raise ArithmeticError("The inverse-Hessian-vector product is "
                                      "not finite")
            return out

        v = flatten(val_grad)
        if create_graph:
            p = _InverseHessianProduct.apply(v, solve)
        else:
            p = solve(v.detach())
        # mixed term: ∂²L_train/∂λ∂θᵀ p = ∇_λ <∇_θ L_train, p>
        mixed = torch.autograd.grad(train_grad, hparams,
                                    grad_outputs=unflatten(p, params),
                                    retain_graph=create_graph,
                                    create_graph=create_graph,
                                    allow_unused=True)
        mixed = grads_or_zeros(mixed, hparams)
        return tuple(d - m for d, m in zip(direct, mixed))
