"""Paper 2's feature-balance figures: Lorenz curves of importance weights, hard-feature probe error vs rho,
LSAM's per-feature learning-rate rescaling factors, and the importance weights' Gini along training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samlab.reporting.accuracy import split_seed
from samlab.reporting.common import TEMPLATE, colour, has_rows, mean_and_spread, nothing_yet, require_columns

# the analysis tables as the analysis writes them (one schema per table, docs/schemas.md)
LORENZ_COLUMNS = ("variant", "weights", "fraction", "cumulative_share")
PROBE_COLUMNS = ("variant", "rho", "feature", "accuracy")
RESCALING_COLUMNS = ("variant", "feature", "factor")
TRAJECTORY_COLUMNS = ("variant", "step", "gini_real", "gini_phantom")
_NOT_YET = "No feature-balance analysis yet: run `kedro run --pipelines analysis`."


def gini(fraction: np.ndarray, share: np.ndarray) -> float:
    """Gini coefficient from Lorenz-curve points: 1 − 2·(area under the curve), trapezoid rule, (0, 0) added."""
    order = np.argsort(fraction)
    x = np.concatenate([[0.0], np.asarray(fraction, float)[order]])
    y = np.concatenate([[0.0], np.asarray(share, float)[order]])
    return float(1.0 - 2.0 * np.trapezoid(y, x))


def lorenz_curves(table: pd.DataFrame | None) -> go.Figure:
    """Lorenz curves of the importance weights λ_i (real parameters, solid) and λ̃_i (phantom, dashed), one
    colour per model, Gini in the legend; the diagonal is perfect balance.

    ``table``: ``variant, weights, fraction, cumulative_share``: weights ``real`` or ``phantom``; (fraction of
    samples, cumulative share of total weight) points of the curve, weights sorted ascending.
    """
    title = "Lorenz curves of importance weights (solid: real w, dashed: phantom w̃)"
    if not has_rows(table):
        return nothing_yet(title, _NOT_YET)
    require_columns(table, LORENZ_COLUMNS, "Lorenz table")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="equality", line={"color": "#aaa", "dash": "dot"}))
    for i, (model, g) in enumerate(table.groupby("variant", sort=False)):
        for kind, k in g.groupby("weights", sort=False):
            k = k.sort_values("fraction")
            fig.add_trace(
                go.Scatter(
                    x=k["fraction"],
                    y=k["cumulative_share"],
                    mode="lines",
                    name=f"{model} {kind} (Gini {gini(k['fraction'], k['cumulative_share']):.3f})",
                    line={"color": colour(i), "dash": "dash" if kind == "phantom" else "solid"},
                )
            )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=440,
        xaxis={"title": "fraction of samples", "range": [0, 1]},
        yaxis={"title": "cumulative share of weight", "range": [0, 1]},
    )
    return fig


def probe_error_vs_rho(table: pd.DataFrame | None) -> go.Figure:
    """Linear-probe error (1 − accuracy) of each feature vs the model's rho (SGD = 0), mean ± std over the
    models at the same rho (seeds).

    ``table``: ``variant, rho, feature, accuracy``; feature e.g. ``easy``/``hard``.
    """
    title = "Probe error per feature vs rho (paper 2, Fig. 2A style)"
    if table is not None and len(table) == 0:  # the analysis ran on data without probe splits (e.g. digits)
        return nothing_yet(
            title,
            "No probe results yet: the trained models' data has no `*_only_*` probe splits "
            "(toy, dominoes and CIFAR-MNIST have them); `kedro run --pipelines study` probes "
            "the toy and dominoes sets.",
        )
    if not has_rows(table):
        return nothing_yet(title, _NOT_YET)
    require_columns(table, PROBE_COLUMNS, "probe table")
    stats = mean_and_spread(table.assign(error=1.0 - table["accuracy"]), ["feature", "rho"], "error")
    fig = go.Figure()
    for i, (feature, g) in enumerate(stats.groupby("feature", sort=False)):
        g = g.sort_values("rho")
        fig.add_trace(
            go.Scatter(
                x=g["rho"],
                y=g["mean"],
                mode="lines+markers",
                name=f"{feature} feature",
                error_y={"type": "data", "array": g["std"], "visible": bool((g["count"] > 1).any())},
                line={"color": colour(i)},
            )
        )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=400,
        xaxis={"title": "rho"},
        yaxis={"title": "probe error", "rangemode": "tozero"},
    )
    return fig


def lr_rescaling(table: pd.DataFrame | None) -> go.Figure:
    """LSAM's per-feature learning-rate rescaling factors (ṽ_j / v_j; ‖ṽ_:j‖ / ‖v_:j‖ for a multi-class head,
    ``samlab.analysis.feature_rescaling_factors``), sorted descending, one line per model;
    1 is no rescaling. ``table``: ``variant, feature, factor`` (optional ``epoch``: the last one is drawn)."""
    title = "Learning-rate rescaling factor per feature, ‖ṽ_:j‖ / ‖v_:j‖ (sorted)"
    if not has_rows(table):
        return nothing_yet(title, _NOT_YET)
    require_columns(table, RESCALING_COLUMNS, "LR rescaling table")
    fig = go.Figure()
    for i, (model, g) in enumerate(table.groupby("variant", sort=False)):
        if "epoch" in g.columns:
            g = g[g["epoch"] == g["epoch"].max()]
        g = g.sort_values("factor", ascending=False)
        fig.add_trace(
            go.Scatter(
                x=np.arange(1, len(g) + 1),
                y=g["factor"],
                mode="lines+markers",
                name=str(model),
                text=g["feature"].astype(str),
                hovertemplate="feature %{text}: %{y:.4f}",
                line={"color": colour(i)},
                marker={"size": 4},
            )
        )
    fig.add_hline(y=1, line={"color": "#999", "dash": "dot"})
    fig.update_layout(
        title=title, template=TEMPLATE, height=400, xaxis={"title": "feature rank"}, yaxis={"title": "rescaling factor"}
    )
    return fig


def balance_trajectory(table: pd.DataFrame | None) -> go.Figure:
    """Gini of the batch importance weights along training, mean over seeds (``_s<k>`` suffixes grouped):
    left, real λ (solid) and phantom λ̃ at the perturbation taken (dashed); right, Gini(λ̃) − Gini(λ)
    (below 0: the phantom weights are more even, paper 2's claim). SGD has no λ̃ and only a solid line.

    ``table``: ``variant, step, gini_real, gini_phantom`` (``BalanceRecorder`` rows of every member).
    """
    title = "Importance-weight Gini along training: real λ vs phantom λ̃"
    if not has_rows(table):
        return nothing_yet(title, "No balance trajectories yet: run `kedro run --pipelines study`.")
    require_columns(table, TRAJECTORY_COLUMNS, "balance trajectory table")
    t = table.assign(
        group=[split_seed(str(v))[0] for v in table["variant"]], delta=table["gini_phantom"] - table["gini_real"]
    )
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Gini (solid: real λ, dashed: phantom λ̃)", "Gini(λ̃) − Gini(λ)"),
        horizontal_spacing=0.1,
    )
    for i, (group, g) in enumerate(t.groupby("group", sort=False)):
        means = g.groupby("step", sort=True)[["gini_real", "gini_phantom", "delta"]].mean()
        line = {"color": colour(i)}
        fig.add_trace(
            go.Scatter(
                x=means.index, y=means["gini_real"], mode="lines", name=f"{group} real", legendgroup=group, line=line
            ),
            row=1,
            col=1,
        )
        if means["gini_phantom"].notna().any():
            fig.add_trace(
                go.Scatter(
                    x=means.index,
                    y=means["gini_phantom"],
                    mode="lines",
                    name=f"{group} phantom",
                    legendgroup=group,
                    line={**line, "dash": "dash"},
                ),
                row=1,
                col=1,
            )
            fig.add_trace(
                go.Scatter(
                    x=means.index,
                    y=means["delta"],
                    mode="lines",
                    name=f"{group} Δ",
                    legendgroup=group,
                    line=line,
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
    fig.add_hline(y=0, line={"color": "#999", "dash": "dot"}, row=1, col=2)
    fig.update_xaxes(title_text="update")
    fig.update_yaxes(title_text="Gini", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE, height=460)
    return fig
