"""Sharpness of trained weights (docs/science.md §8): Hessian top eigenvalue and trace, m-sharpness, adaptive sharpness.

All functions take a model, a loss ``loss_fn(outputs, targets)`` and a *fixed* subset of training data
(``inputs``, ``targets``), put the model in eval mode (BatchNorm uses its running statistics, so the loss
is a deterministic function of the weights) and restore its mode and weights afterwards. Large subsets are
processed in chunks of ``chunk_size``; chunk losses are weighted by their size so the result is the
Hessian (or sharpness) of the mean loss over the whole subset.

- ``hessian_top_eigenvalue``: power iteration with Hessian-vector products (autograd double backward);
  returns the eigenvalue of largest magnitude (as PyHessian and paper 1 do).
- ``hessian_trace``: Hutchinson's estimator E[vᵀHv] with Rademacher v.
- ``m_sharpness``: mean over m-sized batches B of L_B(w + e_B) − L_B(w), e_B = ρ·∇L_B/‖∇L_B‖ (SAM's
  first-order worst case); ``adaptive=True`` uses ASAM's scaling e_B = ρ·a²⊙g/‖a⊙g‖, a = |w| + η.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from samlab.optim._ops import EPS, global_norm  # one norm helper for the whole package

LossFn = Callable[[Tensor, Tensor], Tensor]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the measurement; the caller's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def trainable_parameters(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def fixed_subset(n: int, size: int | None, seed: int = 0) -> Tensor:
    """Indices of a fixed random subset of ``size`` out of ``n`` samples (all of them if size is None/≥ n)."""
    if size is None or size >= n:
        return torch.arange(n)
    if size < 1:
        raise ValueError(f"subset size must be >= 1, got {size}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values


def _chunks(inputs: Tensor, targets: Tensor, chunk_size: int | None) -> list[tuple[Tensor, Tensor, float]]:
    n = inputs.shape[0]
    if n == 0 or targets.shape[0] != n:
        raise ValueError(f"need matching, non-empty inputs/targets, got {n} and {targets.shape[0]}")
    size = chunk_size or n
    return [(x, y, x.shape[0] / n) for x, y in zip(inputs.split(size), targets.split(size))]


def _dot(a: list[Tensor], b: list[Tensor]) -> Tensor:
    return sum(torch.sum(x * y) for x, y in zip(a, b))  # type: ignore[return-value]


def hessian_vector_product(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: Tensor,
    targets: Tensor,
    vector: list[Tensor],
    chunk_size: int | None = None,
) -> list[Tensor]:
    """H·v for the mean loss over (inputs, targets) at the current weights, by double backward."""
    params = trainable_parameters(model)
    out = [torch.zeros_like(p) for p in params]
    for x, y, weight in _chunks(inputs, targets, chunk_size):
        loss = loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=vector, allow_unused=True)
        torch._foreach_add_(
            out, [h if h is not None else torch.zeros_like(p) for h, p in zip(hv, params)], alpha=weight
        )
    return out


def hessian_top_eigenvalue(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: Tensor,
    targets: Tensor,
    iterations: int = 100,
    tol: float = 1e-4,
    chunk_size: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Top (largest-magnitude) Hessian eigenvalue by power iteration.

    Stops when the Rayleigh quotient changes by less than ``tol`` relative to its size, or after
    ``iterations`` Hessian-vector products. Returns ``{"eigenvalue", "iterations", "converged"}``.
    """
    if iterations < 1 or tol <= 0:
        raise ValueError(f"need iterations >= 1 and tol > 0, got {iterations}, {tol}")
    params = trainable_parameters(model)
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device) for p in params]
    torch._foreach_div_(v, global_norm(v) + EPS)
    eigenvalue, converged, it = 0.0, False, 0
    with eval_mode(model):
        for it in range(1, iterations + 1):
            hv = hessian_vector_product(model, loss_fn, inputs, targets, v, chunk_size)
            new = float(_dot(v, hv))
            norm = global_norm(hv)
            if float(norm) == 0.0:
                eigenvalue, converged = 0.0, True
                break
            v = torch._foreach_div(hv, norm)
            if it > 1 and abs(new - eigenvalue) <= tol * (abs(eigenvalue) + EPS):
                eigenvalue, converged = new, True
                break
            eigenvalue = new
    return {"eigenvalue": eigenvalue, "iterations": it, "converged": converged}


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: Tensor,
    targets: Tensor,
    samples: int = 10,
    chunk_size: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Hutchinson's trace estimate mean_s v_sᵀ H v_s, v_s Rademacher; also its standard error."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    params = trainable_parameters(model)
    gen = torch.Generator().manual_seed(seed)
    estimates = []
    with eval_mode(model):
        for _ in range(samples):
            v = [
                (torch.randint(0, 2, p.shape, generator=gen) * 2 - 1).to(dtype=p.dtype, device=p.device) for p in params
            ]
            estimates.append(float(_dot(v, hessian_vector_product(model, loss_fn, inputs, targets, v, chunk_size))))
    est = torch.tensor(estimates, dtype=torch.float64)
    stderr = float(est.std() / len(estimates) ** 0.5) if samples > 1 else float("nan")
    return {"trace": float(est.mean()), "stderr": stderr, "samples": samples}


@torch.no_grad()
def _restore(params: list[Tensor], backup: list[Tensor]) -> None:
    torch._foreach_copy_(params, backup)


def m_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: Tensor,
    targets: Tensor,
    rho: float,
    m: int,
    adaptive: bool = False,
    eta: float = 0.0,
) -> dict[str, float]:
    """Mean over m-sized batches of L_B(w + e_B) − L_B(w), e_B the SAM (or ASAM) ascent step of radius ρ.

    The last incomplete batch is dropped so every term is over exactly m samples.
    Returns ``{"sharpness", "clean_loss", "perturbed_loss", "batches"}`` (losses averaged over batches).
    """
    if rho < 0 or m < 1:
        raise ValueError(f"need rho >= 0 and m >= 1, got {rho}, {m}")
    n = (inputs.shape[0] // m) * m
    if n == 0:
        raise ValueError(f"m = {m} exceeds the {inputs.shape[0]} samples of the subset")
    params = trainable_parameters(model)
    backup = [p.detach().clone() for p in params]
    clean, perturbed = [], []
    with eval_mode(model):
        try:
            for x, y in zip(inputs[:n].split(m), targets[:n].split(m)):
                loss = loss_fn(model(x), y)
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params)]
                with torch.no_grad():
                    if adaptive:
                        a = torch._foreach_add(torch._foreach_abs(backup), eta)
                        ag = torch._foreach_mul(grads, a)
                        e = torch._foreach_mul(ag, a)
                        torch._foreach_mul_(e, rho / (global_norm(ag) + EPS))
                    else:
                        e = torch._foreach_mul(grads, rho / (global_norm(grads) + EPS))
                    torch._foreach_add_(params, e)
                    perturbed.append(float(loss_fn(model(x), y)))
                    _restore(params, backup)
                clean.append(float(loss.detach()))
        finally:
            _restore(params, backup)
    c, p = torch.tensor(clean, dtype=torch.float64), torch.tensor(perturbed, dtype=torch.float64)
    return {
        "sharpness": float((p - c).mean()),
        "clean_loss": float(c.mean()),
        "perturbed_loss": float(p.mean()),
        "batches": len(clean),
    }
