"""Feature balance (paper 2, docs/science.md §10): importance weights, phantom weights, Lorenz/Gini, LSAM effects.

For f(x) = vᵀφ_θ(x) trained with cross-entropy, the loss gradient is a sum of per-sample gradients
weighted by the importance weight λ_i = 1 − p(y_i | x_i) (binary logistic: σ(−y_i f(x_i))). SAM takes
its gradient at the *phantom* parameters w̃ = w + ρ∇L/‖∇L‖; the phantom weights λ̃_i are λ at w̃.
Paper 2's claim: λ̃ is spread more evenly than λ (lower Gini), so SAM keeps learning samples that the easy
feature already fits.

LSAM perturbs only the last layer, ṽ = v + ρ∇_vL/‖∇_vL‖. ``lsam_surrogate`` builds the loss whose
gradient is LSAM's (``full``) or one of its two isolated effects: ``importance`` (λ̃ from ṽ, gradients
through the real v) and ``lr_scaling`` (real λ, backprop through ṽ, whose per-feature factor is ṽ_j/v_j,
``lr_rescaling_factors`` elementwise; ``feature_rescaling_factors`` one per feature of a multi-class head).

Along training, ``BalanceRecorder`` (an ``on_step`` callback) measures λ and λ̃ on each recorded batch at the
perturbation the optimizer actually takes — where paper 2's claim lives (at the end of training nearly every
λ_i ≈ 0 and the end-of-training Gini says little).

Tables: ``lorenz_table`` has columns ``weights`` (``real``/``phantom``), ``fraction``, ``cumulative_share``;
``lr_rescaling_table``: ``feature, factor, v_norm, v_tilde_norm``; ``BalanceRecorder.table()``:
``step, importance_mean, phantom_importance_mean, gini_real, gini_phantom``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from samlab.analysis.recorder import StepRecorder
from samlab.analysis.sharpness import eval_mode, trainable_parameters
from samlab.optim import StepStats
from samlab.optim._ops import EPS, global_norm
from samlab.optim.lsam_effects import LSAM_MODES, LSAMEffect, lsam_surrogate  # noqa: F401  - paper 2's LSAM effects
# live with the optimizers (``create_optimizer`` builds them); re-exported here with the rest of paper 2

LossFn = Callable[[Tensor, Tensor], Tensor]


def importance_weights(logits: Tensor, targets: Tensor) -> Tensor:
    """λ_i = 1 − softmax(logits_i)[y_i]."""
    if logits.ndim != 2 or targets.shape != (logits.shape[0],):
        raise ValueError(f"need (N, C) logits and (N,) targets, got {tuple(logits.shape)}, {tuple(targets.shape)}")
    return 1.0 - logits.double().softmax(1).gather(1, targets.view(-1, 1)).squeeze(1)


def lorenz_curve(weights: Sequence[float] | np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of samples, cumulative share of the total weight), weights sorted ascending, from (0, 0)."""
    if isinstance(weights, Tensor):
        weights = weights.detach().cpu()  # weights measured on a GPU
    w = np.sort(np.asarray(weights, dtype=float).ravel())
    if w.size == 0 or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be a non-empty array of finite, non-negative numbers")
    total = w.sum()
    share = np.cumsum(w) / total if total > 0 else np.linspace(1 / w.size, 1, w.size)  # all zero: perfectly even
    return np.linspace(0.0, 1.0, w.size + 1), np.concatenate([[0.0], share])


def gini(weights: Sequence[float] | np.ndarray | Tensor) -> float:
    """1 − 2·(area under the Lorenz curve), trapezoids: 0 = perfectly even, (n − 1)/n = one sample has it all."""
    x, y = lorenz_curve(weights)
    return float(1.0 - 2.0 * np.trapezoid(y, x))


def lorenz_table(real: np.ndarray | Tensor, phantom: np.ndarray | Tensor, points: int = 101) -> pd.DataFrame:
    """Both Lorenz curves, resampled at ``points`` fractions (tidy, for plotting)."""
    rows = []
    grid = np.linspace(0.0, 1.0, points)
    for name, w in (("real", real), ("phantom", phantom)):
        x, y = lorenz_curve(w)
        rows.append(pd.DataFrame({"weights": name, "fraction": grid, "cumulative_share": np.interp(grid, x, y)}))
    return pd.concat(rows, ignore_index=True)


def _loss_gradient(
    model: nn.Module, loss_fn: LossFn, inputs: Tensor, targets: Tensor, params: list[Tensor], chunk_size: int | None
) -> list[Tensor]:
    grads = [torch.zeros_like(p) for p in params]
    size = chunk_size or inputs.shape[0]
    n = inputs.shape[0]
    for x, y in zip(inputs.split(size), targets.split(size)):
        g = torch.autograd.grad(loss_fn(model(x), y), params, allow_unused=True)
        torch._foreach_add_(
            grads, [gi if gi is not None else torch.zeros_like(p) for gi, p in zip(g, params)], alpha=x.shape[0] / n
        )
    return grads


@torch.no_grad()
def _logits(model: nn.Module, inputs: Tensor, chunk_size: int | None) -> Tensor:
    size = chunk_size or inputs.shape[0]
    return torch.cat([model(x) for x in inputs.split(size)])


def last_layer_parameters(model: nn.Module) -> list[Tensor]:
    """The classifier's parameters (v): timm's ``get_classifier()``."""
    if not hasattr(model, "get_classifier"):
        raise ValueError(f"{type(model).__name__} has no get_classifier(): cannot find its last layer")
    return [p for p in model.get_classifier().parameters() if p.requires_grad]


def phantom_importance_weights(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: Tensor,
    targets: Tensor,
    rho: float,
    last_layer: bool = False,
    chunk_size: int | None = None,
) -> dict[str, Tensor]:
    """λ at w and λ̃ at w̃ = w + ρ∇L/‖∇L‖ (∇L over the whole given set; only v if ``last_layer``), eval mode.

    Returns ``{"real", "phantom"}`` (float64, one weight per sample); the model's weights are restored.
    """
    if rho < 0:
        raise ValueError(f"rho must be >= 0, got {rho}")
    params = last_layer_parameters(model) if last_layer else trainable_parameters(model)
    backup = [p.detach().clone() for p in params]
    with eval_mode(model):
        real = importance_weights(_logits(model, inputs, chunk_size), targets)
        grads = _loss_gradient(model, loss_fn, inputs, targets, params, chunk_size)
        try:
            with torch.no_grad():
                torch._foreach_add_(params, torch._foreach_mul(grads, rho / (global_norm(grads) + EPS)))
            phantom = importance_weights(_logits(model, inputs, chunk_size), targets)
        finally:
            with torch.no_grad():
                torch._foreach_copy_(params, backup)
    return {"real": real, "phantom": phantom}


def last_layer_phantom(
    model: nn.Module, loss_fn: LossFn, inputs: Tensor, targets: Tensor, rho: float, chunk_size: int | None = None
) -> list[Tensor]:
    """ṽ = v + ρ∇_vL/‖∇_vL‖ for the classifier's parameters (weight first, as ``get_classifier`` lists them)."""
    params = last_layer_parameters(model)
    with eval_mode(model):
        grads = _loss_gradient(model, loss_fn, inputs, targets, params, chunk_size)
    scale = rho / (float(global_norm(grads)) + EPS)
    return [p.detach() + scale * g for p, g in zip(params, grads)]


def lr_rescaling_factors(v: Tensor, v_tilde: Tensor) -> Tensor:
    """Per-feature LR rescaling ṽ_j / v_j (elementwise; NaN where v_j = 0)."""
    if v.shape != v_tilde.shape:
        raise ValueError(f"v and ṽ differ in shape: {tuple(v.shape)} vs {tuple(v_tilde.shape)}")
    v64 = v.double()
    return torch.where(v64 != 0, v_tilde.double() / torch.where(v64 != 0, v64, 1.0), torch.nan)


def _column_norms(v: Tensor, v_tilde: Tensor) -> tuple[Tensor, Tensor]:
    """‖v_{:,j}‖ and ‖ṽ_{:,j}‖ per feature j (float64), for a (C, D) or (D,) classifier weight."""
    if v.shape != v_tilde.shape or v.ndim not in (1, 2):
        raise ValueError(f"need v and ṽ of one (C, D) or (D,) shape, got {tuple(v.shape)} and {tuple(v_tilde.shape)}")
    d = v.shape[-1]
    return v.double().reshape(-1, d).norm(dim=0), v_tilde.double().reshape(-1, d).norm(dim=0)


def feature_rescaling_factors(v: Tensor, v_tilde: Tensor) -> Tensor:
    """One factor per feature j of a (C, D) classifier: ‖ṽ_{:,j}‖ / ‖v_{:,j}‖ (NaN where v_{:,j} = 0).

    Why the column norm: the backbone's gradient through feature j is Σ_k (p − Y)_k v_kj, so ṽ's column j
    rescales how fast feature j is learnt; for a single-logit head this is |ṽ_j / v_j| (paper 2's factor).
    """
    norm, norm_tilde = _column_norms(v, v_tilde)
    return torch.where(norm > 0, norm_tilde / torch.where(norm > 0, norm, 1.0), torch.nan)


def lr_rescaling_table(v: Tensor, v_tilde: Tensor) -> pd.DataFrame:
    """``feature, factor, v_norm, v_tilde_norm``: one row per feature (column of the classifier weight)."""
    norm, norm_tilde = _column_norms(v, v_tilde)
    return pd.DataFrame(
        {
            "feature": np.arange(v.shape[-1]),
            "factor": feature_rescaling_factors(v, v_tilde).cpu().numpy(),
            "v_norm": norm.cpu().numpy(),
            "v_tilde_norm": norm_tilde.cpu().numpy(),
        }
    )


BALANCE_COLUMNS = ("step", "importance_mean", "phantom_importance_mean", "gini_real", "gini_phantom")


@dataclass
class BalanceRecorder(StepRecorder):
    """``on_step(update, stats)`` callback: every ``every`` updates, the batch's importance weights λ (clean
    logits at w) and λ̃ (logits at the w + e the optimizer took; NaN without a perturbation, e.g. SGD), their
    means and Gini coefficients. Needs ``stats.targets`` (the training loop sets it) and CE-style logits."""

    COLUMNS: ClassVar[list[str]] = list(BALANCE_COLUMNS)

    def measure(self, stats: StepStats) -> dict[str, float]:
        if stats.targets is None or stats.targets.ndim != 1:
            raise ValueError("BalanceRecorder needs integer class targets in StepStats.targets (set by samlab.train)")
        real = importance_weights(stats.logits.float(), stats.targets)
        row = {
            "importance_mean": float(real.mean()),
            "phantom_importance_mean": np.nan,
            "gini_real": gini(real),
            "gini_phantom": np.nan,
        }
        if stats.perturbed_logits is not None:
            phantom = importance_weights(stats.perturbed_logits.float(), stats.targets)
            row.update(phantom_importance_mean=float(phantom.mean()), gini_phantom=gini(phantom))
        return row

    def summary(self) -> dict[str, float]:
        """Trajectory means: ``trajectory_gini_real``, ``trajectory_gini_phantom`` (NaN when never measured)."""
        return self.means(["gini_real", "gini_phantom"], "trajectory_")
