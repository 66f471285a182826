"""Thin nodes over ``samlab.reporting``: each takes the tables that exist (``None`` for one not written yet)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from samlab import reporting as rp

METRICS_PREFIX = "metrics__"


def _metrics(inputs: Mapping[str, Any]) -> dict[str, dict | None]:
    return {k.removeprefix(METRICS_PREFIX): v for k, v in inputs.items() if k.startswith(METRICS_PREFIX)}


def plot_learning_curves(**histories: pd.DataFrame | None) -> go.Figure:
    return rp.learning_curves(histories)


HISTORY_PREFIX = "history__"


def plot_update_curves(**inputs: Any) -> go.Figure:
    """Per-update curves from each variant's DVCLive files (``<variant>``: its partitions, or None before any
    training); the ``history__<variant>`` inputs only order this node after that variant's training."""
    from samlab.reporting.updates import dvclive_table, update_curves

    return update_curves({v: dvclive_table(parts) for v, parts in inputs.items() if not v.startswith(HISTORY_PREFIX)})


def summarise(**inputs: Any) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """``metrics__<variant>`` metrics dicts, and optionally ``robustness``, ``mce``, ``transfer`` tables →
    summary table, its markdown (best bolded) and the tidy accuracy table the bar chart draws."""
    metrics = _metrics(inputs)
    tables = {k: inputs.get(k) for k in ("robustness", "mce", "transfer")}
    summary = rp.summary_table(metrics, **tables)
    if len(summary):
        markdown = "# samlab summary\n\n" + rp.markdown_table(summary, bold_best=True)
    else:
        markdown = "# samlab summary\n\nNo trained model yet: run `kedro run --pipelines training`.\n"
    return summary, markdown, rp.accuracy_table(metrics, tables["robustness"], tables["transfer"])


def dvc_metrics(summary: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Numbers only, one object per variant: what ``dvc metrics show`` lists."""
    return rp.metric_numbers(summary)


def plot_accuracy_bars(accuracy: pd.DataFrame) -> go.Figure:
    return rp.accuracy_bars(accuracy)


def plot_robustness(robustness: pd.DataFrame | None) -> tuple[go.Figure, go.Figure]:
    return rp.robustness_heatmap(robustness), rp.severity_lines(robustness)


def plot_correlation(study_models: pd.DataFrame | None, correlation: pd.DataFrame | None = None) -> go.Figure:
    return rp.metric_vs_accuracy(study_models, correlation)


def plot_tau_vs_m(tau_vs_m: pd.DataFrame | None) -> go.Figure:
    return rp.tau_vs_m(tau_vs_m)


def plot_lorenz(lorenz: pd.DataFrame | None) -> go.Figure:
    return rp.lorenz_curves(lorenz)


def plot_probes(probes: pd.DataFrame | None) -> go.Figure:
    return rp.probe_error_vs_rho(probes)


def plot_lr_rescaling(lr_rescaling: pd.DataFrame | None) -> go.Figure:
    return rp.lr_rescaling(lr_rescaling)


def plot_balance_trajectory(balance_trajectory: pd.DataFrame | None) -> go.Figure:
    return rp.balance_trajectory(balance_trajectory)


def plot_obf(obf_sweep: pd.DataFrame | None) -> go.Figure:
    return rp.obf_hyperparameters(obf_sweep)


def build_report(summary: pd.DataFrame, parameters: dict, order: list[str], **figures: go.Figure) -> str:
    """The HTML report: ``figures`` in ``order``."""
    return rp.report_html({key: figures[key] for key in order}, summary, parameters)
