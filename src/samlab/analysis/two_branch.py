"""Paper 2's measurements (Fig. 2–5) on its toy model f(x) = v_easy·Φ_easy(x_easy) + v_hard·Φ_hard(x_hard).

v = (v_easy, v_hard) is the last layer; with binary labels y± ∈ {−1, +1} the logistic loss is
log(1 + exp(−y±·f)) and the importance weight λ = σ(−y±·f). LSAM's phantom last layer on a batch B is
ṽ = v + ρ·∇_v L_B/‖∇_v L_B‖ (SGD: ρ = 0, ṽ = v). Measured at the trained weights:

- ``head_per_batch``: per training batch (the batch size of training, a fixed shuffle), v, ṽ, the LR
  re-weighting factors ṽ_easy/v_easy and ṽ_hard/v_hard (Fig. 4) and the phantom ratio |ṽ_hard|/|ṽ_easy|
  (Fig. 2B); columns ``batch, v_easy, v_hard, v_tilde_easy, v_tilde_hard, factor_easy, factor_hard,
  phantom_ratio``.
- ``lambda_bins``: λ (real, at v) and λ̃ (phantom, at ṽ from the whole training set) on the training set,
  binned by the feature contributions c_easy = y±·v_easy·Φ_easy and c_hard = y±·v_hard·Φ_hard (quantile bins);
  median per bin (Fig. 5); columns ``weights, easy_bin, hard_bin, easy_contribution, hard_contribution,
  median_lambda, count``.
- the branch probes (Fig. 2A) run through ``samlab.evaluate.probes.probe_table`` with ``branch_output`` /
  ``branch_hidden`` as the feature function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samlab.analysis.sharpness import EPS, eval_mode

HEAD_COLUMNS = [
    "batch",
    "v_easy",
    "v_hard",
    "v_tilde_easy",
    "v_tilde_hard",
    "factor_easy",
    "factor_hard",
    "phantom_ratio",
]
BIN_COLUMNS = ["weights", "easy_bin", "hard_bin", "easy_contribution", "hard_contribution", "median_lambda", "count"]


def is_two_branch(model: nn.Module) -> bool:
    return hasattr(model, "phi_easy") and hasattr(model, "phi_hard")


def branch_output(feature: str):
    """Feature function for probes: the scalar Φ_feature(x)."""

    def fn(model: nn.Module, x: Tensor) -> Tensor:
        return model.forward_features(x)[:, ["easy", "hard"].index(feature)].unsqueeze(1)

    return fn


def branch_hidden(feature: str):
    """Feature function for probes: the last hidden layer of Φ_feature (what Φ's scalar is read from)."""

    def fn(model: nn.Module, x: Tensor) -> Tensor:
        branch = getattr(model, f"phi_{feature}")
        idx = getattr(model, "_easy" if feature == "easy" else "_hard")
        return branch[:-1](x.flatten(1).index_select(1, idx))

    return fn


def _signed(targets: Tensor) -> Tensor:
    return targets.double() * 2 - 1


@torch.no_grad()
def _phi(model: nn.Module, inputs: Tensor) -> Tensor:
    with eval_mode(model):
        return model.forward_features(inputs).double()


def phantom_head(v: Tensor, phi: Tensor, y_signed: Tensor, rho: float) -> Tensor:
    """ṽ = v + ρ·∇_v L/‖∇_v L‖ for the mean logistic loss of f = φ·v over the given samples (float64)."""
    if rho == 0:
        return v.clone()
    f = phi @ v
    grad = -(torch.sigmoid(-y_signed * f) * y_signed).unsqueeze(1).mul(phi).mean(0)  # ∇_v mean log(1+e^{−y f})
    return v + rho * grad / (grad.norm() + EPS)


def head_per_batch(
    model: nn.Module, inputs: Tensor, targets: Tensor, rho: float, batch_size: int, seed: int = 0
) -> pd.DataFrame:
    """v, ṽ and the LR re-weighting factors per batch of a fixed shuffle of (inputs, targets)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    v = model.get_classifier().weight.detach().double().view(-1)
    phi, ys = _phi(model, inputs), _signed(targets)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    rows = []
    for b, idx in enumerate(order.split(batch_size)):
        if len(idx) < batch_size:
            break
        vt = phantom_head(v, phi[idx], ys[idx], rho)
        rows.append(
            {
                "batch": b,
                "v_easy": float(v[0]),
                "v_hard": float(v[1]),
                "v_tilde_easy": float(vt[0]),
                "v_tilde_hard": float(vt[1]),
                "factor_easy": float(vt[0] / v[0]),
                "factor_hard": float(vt[1] / v[1]),
                "phantom_ratio": float(vt[1].abs() / vt[0].abs()),
            }
        )
    return pd.DataFrame(rows, columns=HEAD_COLUMNS)


def importance_and_contributions(
    model: nn.Module, inputs: Tensor, targets: Tensor, rho: float
) -> dict[str, np.ndarray]:
    """λ at v, λ̃ at ṽ (whole-set phantom), and the contributions y±·v_k·Φ_k (float64 numpy)."""
    v = model.get_classifier().weight.detach().double().view(-1)
    phi, ys = _phi(model, inputs), _signed(targets)
    vt = phantom_head(v, phi, ys, rho)
    return {
        "real": torch.sigmoid(-ys * (phi @ v)).cpu().numpy(),
        "phantom": torch.sigmoid(-ys * (phi @ vt)).cpu().numpy(),
        "easy": (ys * v[0] * phi[:, 0]).cpu().numpy(),
        "hard": (ys * v[1] * phi[:, 1]).cpu().numpy(),
    }


def lambda_bins(model: nn.Module, inputs: Tensor, targets: Tensor, rho: float, bins: int = 4) -> pd.DataFrame:
    """Median λ (and λ̃) per (easy, hard) contribution bin; bins are quantiles of each contribution."""
    w = importance_and_contributions(model, inputs, targets, rho)
    frame = pd.DataFrame({"easy": w["easy"], "hard": w["hard"], "real": w["real"], "phantom": w["phantom"]})
    frame["easy_bin"] = pd.qcut(frame["easy"].rank(method="first"), bins, labels=False)
    frame["hard_bin"] = pd.qcut(frame["hard"].rank(method="first"), bins, labels=False)
    out = []
    for kind in ("real", "phantom"):
        g = frame.groupby(["easy_bin", "hard_bin"])
        t = g.agg(
            easy_contribution=("easy", "median"),
            hard_contribution=("hard", "median"),
            median_lambda=(kind, "median"),
            count=(kind, "size"),
        ).reset_index()
        t.insert(0, "weights", kind)
        out.append(t)
    return pd.concat(out, ignore_index=True)[BIN_COLUMNS]


def logistic_loss(f: Tensor, targets: Tensor) -> Tensor:
    """mean log(1 + exp(−y±·f)) — what CE on the two-branch model's (−f/2, f/2) logits equals."""
    return F.softplus(-_signed(targets).to(f.dtype) * f).mean()
