"""Every end-of-training measurement of one model in one call (what the analysis and study pipelines run).

``measure_model`` returns ``(metrics, lorenz, probes, rescaling)``:
- ``metrics`` (one JSON object per model): ``test_accuracy, test_loss, hessian_top_eigenvalue,
  hessian_iterations, hessian_converged, hessian_trace, hessian_trace_stderr, m_sharpness, m_sharpness_m,
  m_sharpness_rho, adaptive_sharpness, adaptive_rho, importance_mean, phantom_importance_mean, gini_real,
  gini_phantom, gini_phantom_last_layer, lr_rescaling_median, lr_rescaling_iqr (of the per-feature factors),
  probe_<feature>_accuracy``;
- ``lorenz``: ``weights, fraction, cumulative_share`` (``feature_balance.lorenz_table``);
- ``probes``: ``probe_table`` rows (empty when the data has no ``*_only_*`` splits);
- ``rescaling``: LSAM's per-feature LR rescaling factors at the final weights,
  ``feature, factor, v_norm, v_tilde_norm`` (``feature_balance.lr_rescaling_table``).

Everything runs on ``cfg["device"]`` (``auto``: CUDA when available, else the CPU; ``samlab.device.resolve_device``):
the model (moved there, and left there) and the fixed subset; tables and metrics come back as CPU numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from torch import Tensor, nn

from samlab.analysis.feature_balance import (
    gini,
    last_layer_phantom,
    lorenz_table,
    lr_rescaling_table,
    phantom_importance_weights,
)
from samlab.analysis.sharpness import hessian_top_eigenvalue, hessian_trace, m_sharpness
from samlab.data import PreparedData, load_subset, make_loader
from samlab.device import resolve_device
from samlab.evaluate import evaluate
from samlab.evaluate.probes import probe_table

LossFn = Callable[[Tensor, Tensor], Tensor]

DEFAULTS: dict[str, Any] = {
    "device": "auto",
    "subset": {"split": "train", "size": 256, "seed": 0, "order": "random", "batch_size": 256},
    "chunk_size": 256,
    "hessian": {"iterations": 20, "tol": 1.0e-3, "seed": 0},
    "trace": {"samples": 4, "seed": 0},
    "m_sharpness": {"rho": 0.05, "m": 16},
    "adaptive_sharpness": {"rho": 0.5, "m": 16, "eta": 0.0},
    "feature_balance": {"rho": 0.05, "lorenz_points": 101},
    "probes": {"features": ["easy", "hard"], "C": 1.0, "max_iter": 1000},
}


def _cfg(cfg: dict[str, Any] | None) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    for key, value in (cfg or {}).items():
        if key not in DEFAULTS:
            raise ValueError(f"unknown analysis setting {key!r}; known: {sorted(DEFAULTS)}")
        out[key] = {**out[key], **value} if isinstance(out[key], dict) else value
    return out


def measure_model(
    model: nn.Module, data: PreparedData, loss_fn: LossFn, cfg: dict[str, Any] | None = None, eval_batch_size: int = 512
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Test metrics, sharpness, feature balance and probes of a trained ``model`` on ``data``."""
    c = _cfg(cfg)
    device = resolve_device(c["device"])
    model.to(device)
    sub = c["subset"]  # tensor or streamed data alike; streamed sets read it through the eval transform
    x, y = load_subset(
        data,
        sub["split"],
        sub["size"],
        sub.get("seed", 0),
        sub.get("order", "random"),
        batch_size=int(sub.get("batch_size", 256)),
    )
    x, y = x.to(device), y.to(device)
    chunk = c["chunk_size"]
    metrics: dict[str, Any] = {}
    if data.has_split("test"):
        scores = evaluate(model, make_loader(data, "test", eval_batch_size, device=device))
        metrics.update(test_accuracy=scores["accuracy"], test_loss=scores["loss"])
    top = hessian_top_eigenvalue(model, loss_fn, x, y, chunk_size=chunk, **c["hessian"])
    trace = hessian_trace(model, loss_fn, x, y, chunk_size=chunk, **c["trace"])
    ms = m_sharpness(model, loss_fn, x, y, **c["m_sharpness"])
    ad = c["adaptive_sharpness"]
    asharp = m_sharpness(model, loss_fn, x, y, rho=ad["rho"], m=ad["m"], adaptive=True, eta=ad["eta"])
    fb = c["feature_balance"]
    weights = phantom_importance_weights(model, loss_fn, x, y, fb["rho"], chunk_size=chunk)
    last = phantom_importance_weights(model, loss_fn, x, y, fb["rho"], last_layer=True, chunk_size=chunk)
    v = next(p for p in model.get_classifier().parameters() if p.requires_grad)
    rescaling = lr_rescaling_table(v.detach(), last_layer_phantom(model, loss_fn, x, y, fb["rho"], chunk)[0])
    q1, med, q3 = rescaling["factor"].dropna().quantile([0.25, 0.5, 0.75])
    metrics.update(
        hessian_top_eigenvalue=top["eigenvalue"],
        hessian_iterations=top["iterations"],
        hessian_converged=top["converged"],
        hessian_trace=trace["trace"],
        hessian_trace_stderr=trace["stderr"],
        m_sharpness=ms["sharpness"],
        m_sharpness_m=c["m_sharpness"]["m"],
        m_sharpness_rho=c["m_sharpness"]["rho"],
        adaptive_sharpness=asharp["sharpness"],
        adaptive_rho=ad["rho"],
        importance_mean=float(weights["real"].mean()),
        phantom_importance_mean=float(weights["phantom"].mean()),
        gini_real=gini(weights["real"]),
        gini_phantom=gini(weights["phantom"]),
        gini_phantom_last_layer=gini(last["phantom"]),
        lr_rescaling_median=float(med),
        lr_rescaling_iqr=float(q3 - q1),
    )
    pr = c["probes"]
    probes = probe_table(model, data, pr["features"], pr["C"], pr["max_iter"], eval_batch_size)
    for row in probes.itertuples():
        metrics[f"probe_{row.feature}_accuracy"] = row.accuracy
    lorenz = lorenz_table(weights["real"].cpu().numpy(), weights["phantom"].cpu().numpy(), fb["lorenz_points"])
    return metrics, lorenz, probes, rescaling
