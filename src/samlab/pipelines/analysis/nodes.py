"""Thin nodes over ``samlab.analysis`` (schemas: module docstrings and the README's "Analysis" section)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from samlab.analysis.measure import measure_model
from samlab.data import PreparedData
from samlab.models import model_from_checkpoint, unfuse_attention
from samlab.train import create_loss

log = logging.getLogger(__name__)


def analyse_model(
    prepared: PreparedData,
    checkpoint: dict,
    analysis_params: dict[str, Any],
    training_params: dict[str, Any],
    variant_name: str,
) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sharpness, feature balance, probes and LR rescaling factors of one trained checkpoint (its training
    loss, no smoothing)."""
    model = unfuse_attention(model_from_checkpoint(checkpoint))  # Hessian-vector products need double backward
    loss_fn = create_loss(training_params.get("loss", "ce"))
    metrics, lorenz, probes, rescaling = measure_model(
        model, prepared, loss_fn, analysis_params, int(training_params.get("eval_batch_size", 512))
    )
    metrics = {"variant": variant_name, "optimizer": checkpoint.get("optimizer_config", {}).get("name"), **metrics}
    log.info(
        "%s: λ_max %.3g, trace %.3g, m-sharpness %.3g, Gini real %.3f → phantom %.3f",
        variant_name,
        metrics["hessian_top_eigenvalue"],
        metrics["hessian_trace"],
        metrics["m_sharpness"],
        metrics["gini_real"],
        metrics["gini_phantom"],
    )
    lorenz.insert(0, "variant", variant_name)
    probes.insert(0, "variant", variant_name)
    probes.insert(1, "rho", float(checkpoint.get("optimizer_config", {}).get("rho", 0.0) or 0.0))
    rescaling.insert(0, "variant", variant_name)
    return metrics, lorenz, probes, rescaling


def collect_analysis(**parts: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One table per kind over all variants, each the concatenation of the per-variant tables (same columns,
    docs/schemas.md): ``analysis_summary`` (one row per variant), ``balance_lorenz``, ``probe_accuracy``,
    ``lr_rescaling_factors``."""
    metrics = [v for k, v in parts.items() if k.endswith("__metrics")]
    lorenz = pd.concat([v for k, v in parts.items() if k.endswith("__lorenz")], ignore_index=True)
    probes = pd.concat([v for k, v in parts.items() if k.endswith("__probes")], ignore_index=True)
    rescaling = pd.concat([v for k, v in parts.items() if k.endswith("__rescaling")], ignore_index=True)
    return pd.DataFrame(metrics), lorenz, probes, rescaling
