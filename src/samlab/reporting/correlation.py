"""The correlation study (paper 1, Fig. 2 style): sharpness/forgetting metrics vs accuracy, and τ vs m."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.stats import kendalltau

from samlab.reporting.common import TEMPLATE, colour, has_rows, nothing_yet, require_columns

STUDY_COLUMNS = ("model", "accuracy", "metric", "value")
CORRELATION_COLUMNS = ("metric", "tau", "p_value")
TAU_VS_M_COLUMNS = ("metric", "m", "tau", "p_value")
SIGNIFICANT = 0.05
_NOT_YET = "No correlation study yet: run `kedro run --pipelines study`."


def _fmt_p(p: float) -> str:
    return "n/a" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.3g}"


def metric_vs_accuracy(
    models: pd.DataFrame | None, correlation: pd.DataFrame | None = None, cols: int = 3
) -> go.Figure:
    """One scatter per metric: the metric's value (x) vs test accuracy (y) over the model population, with
    Kendall τ and its permutation p-value in the subplot title.

    ``models``: tidy, one row per model × metric: ``model, accuracy, metric, value`` (optional
    ``perturbation`` colours the points, optional ``m`` shows on hover). ``correlation``: the analysis
    pipeline's ``metric, tau, p_value`` (permutation test); a metric missing there gets scipy's τ and its
    asymptotic p, labelled so.
    """
    title = "Sharpness and forgetting vs accuracy (Kendall τ, permutation p)"
    if not has_rows(models):
        return nothing_yet(title, _NOT_YET)
    require_columns(models, STUDY_COLUMNS, "study table")
    given = {}
    if has_rows(correlation):
        require_columns(correlation, CORRELATION_COLUMNS, "correlation table")
        given = {r.metric: (r.tau, r.p_value, "perm.") for r in correlation.itertuples()}
    metrics = list(dict.fromkeys(models["metric"]))
    titles = []
    for metric in metrics:
        if metric not in given:
            rows = models[models["metric"] == metric]
            tau, p = kendalltau(rows["value"], rows["accuracy"]) if len(rows) > 1 else (float("nan"), float("nan"))
            given[metric] = (tau, p, "asympt.")
        tau, p, kind = given[metric]
        titles.append(f"{metric}: τ = {tau:.2f}, p = {_fmt_p(p)} ({kind})")
    ncols = min(cols, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.16)
    colour_by = "perturbation" if "perturbation" in models.columns else None
    kinds = list(dict.fromkeys(models[colour_by])) if colour_by else [None]
    for k, metric in enumerate(metrics):
        r, c = divmod(k, ncols)
        rows = models[models["metric"] == metric]
        for i, kind in enumerate(kinds):
            sub = rows if kind is None else rows[rows[colour_by] == kind]
            hover = sub["model"].astype(str) + (" m=" + sub["m"].astype(str) if "m" in sub.columns else "")
            fig.add_trace(
                go.Scatter(
                    x=sub["value"],
                    y=sub["accuracy"],
                    mode="markers",
                    text=hover,
                    name=str(kind) if kind is not None else "model",
                    legendgroup=str(kind),
                    showlegend=k == 0,
                    marker={"color": colour(i), "size": 8},
                ),
                row=r + 1,
                col=c + 1,
            )
        fig.update_xaxes(title_text=metric, row=r + 1, col=c + 1)
        fig.update_yaxes(title_text="accuracy" if c == 0 else None, row=r + 1, col=c + 1)
    fig.update_layout(title=title, template=TEMPLATE, height=340 * nrows + 80)
    return fig


def tau_vs_m(table: pd.DataFrame | None) -> go.Figure:
    """Kendall τ (metric vs accuracy) against the perturbation batch size m, one line per metric; filled
    markers where the permutation p ≤ 0.05, open ones where not.

    ``table``: ``metric, m, tau, p_value``, one row per metric × m.
    """
    title = "Kendall τ vs perturbation batch size m (filled: p ≤ 0.05)"
    if not has_rows(table):
        return nothing_yet(title, _NOT_YET)
    require_columns(table, TAU_VS_M_COLUMNS, "τ-vs-m table")
    fig = go.Figure()
    for i, (metric, g) in enumerate(table.groupby("metric", sort=False)):
        g = g.sort_values("m")
        solid = g["p_value"] <= SIGNIFICANT
        fig.add_trace(
            go.Scatter(
                x=g["m"],
                y=g["tau"],
                mode="lines+markers",
                name=str(metric),
                customdata=g["p_value"],
                hovertemplate="m=%{x}: τ=%{y:.3f}, p=%{customdata:.3g}",
                line={"color": colour(i)},
                marker={"size": 9, "symbol": ["circle" if s else "circle-open" for s in solid]},
            )
        )
    fig.add_hline(y=0, line={"color": "#999", "dash": "dot"})
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=400,
        yaxis={"title": "Kendall τ", "range": [-1.05, 1.05]},
        xaxis={"title": "perturbation batch size m", "type": "log", "dtick": math.log10(2)},
    )
    return fig
