"""Paper 2's figures (Fig. 2–5) from the feature study's tables; each builder takes one table of
``samlab.study.summaries.feature_tables`` and returns a plotly figure (or the "nothing yet" figure).

- ``phantom_ratio_vs_rho`` (Fig. 2B) and ``probe_error_vs_rho`` (Fig. 2A): mean ± 95 % CI over seeds vs ρ,
  SGD at ρ = 0, one panel per feature set (and spiral complexity);
- ``lorenz_sgd_vs_lsam`` (Fig. 3): real λ of the SGD checkpoints vs phantom λ̃ of the LSAM checkpoints at the
  largest ρ, seeds averaged per fraction (at the earliest measured epoch: see ``measure.early_epoch``);
- ``lr_factor_distributions`` (Fig. 4): ṽ_easy/v_easy and ṽ_hard/v_hard over batches, per optimizer and ρ;
- ``lambda_bin_heatmaps`` (Fig. 5): median λ per bin of the contributions y·v_easy·Φ_easy (x) and
  y·v_hard·Φ_hard (y), SGD (real λ) beside LSAM at the largest ρ (phantom λ̃).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samlab.reporting.common import (
    TEMPLATE,
    colour,
    has_rows,
    nothing_yet,
    require_columns,
)

_NOT_YET = "No feature study yet: run `kedro run --pipelines study`."
SUMMARY_COLUMNS = ("group", "perturbation", "rho", "metric", "mean", "ci95", "n")


def _lines(
    summary: pd.DataFrame | None, metrics: dict[str, str], title: str, ytitle: str, error: bool = False
) -> go.Figure:
    if not has_rows(summary):
        return nothing_yet(title, _NOT_YET)
    require_columns(summary, SUMMARY_COLUMNS, "feature summary")
    table = summary[summary["metric"].isin(metrics)]
    if table.empty:
        return nothing_yet(title, "The feature study measured none of " + ", ".join(metrics) + ".")
    groups = list(dict.fromkeys(table["group"]))
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=groups, shared_yaxes=True)
    keys = list(dict.fromkeys(zip(table["perturbation"], table["metric"])))
    for col, group in enumerate(groups, start=1):
        for i, (pert, metric) in enumerate(keys):
            g = table[(table["group"] == group) & (table["perturbation"] == pert) & (table["metric"] == metric)]
            g = g.sort_values("rho")
            if g.empty:
                continue
            y = 1 - g["mean"] if error else g["mean"]
            fig.add_trace(
                go.Scatter(
                    x=g["rho"],
                    y=y,
                    mode="lines+markers",
                    name=f"{pert} · {metrics[metric]}",
                    legendgroup=f"{pert}{metric}",
                    showlegend=col == 1,
                    line={"color": colour(i), "dash": "solid" if i % 2 == 0 else "dash"},
                    error_y={"type": "data", "array": g["ci95"].fillna(0), "visible": True},
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="ρ (SGD = 0)", row=1, col=col)
    fig.update_yaxes(title_text=ytitle, row=1, col=1)
    fig.update_layout(title=title + " (mean ± 95 % CI over seeds)", template=TEMPLATE, height=420)
    return fig


def phantom_ratio_vs_rho(summary: pd.DataFrame | None) -> go.Figure:
    return _lines(summary, {"phantom_ratio": "|ṽ_hard|/|ṽ_easy|"}, "Phantom weight ratio vs ρ", "|ṽ_hard| / |ṽ_easy|")


def probe_error_vs_rho(summary: pd.DataFrame | None) -> go.Figure:
    return _lines(
        summary,
        {
            "probe_hard_phi_hidden_accuracy": "probe on Φ_hard's hidden layer",
            "probe_hard_phi_accuracy": "probe on Φ_hard",
            "probe_hard_pre_logits_accuracy": "probe on pre-logits",
        },
        "Hard-feature probe error vs ρ",
        "probe error",
        error=True,
    )


def _earliest(table: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the earliest measured epoch (λ is ~0 everywhere at the end of training), and a label."""
    if "epoch" not in table or table["epoch"].isna().all():
        return table, "final weights"
    first = table["epoch"].min()
    return table[table["epoch"] == first], f"after epoch {int(first)}"


def _largest_lsam(table: pd.DataFrame, group: str) -> pd.DataFrame:
    lsam = table[(table["group"] == group) & (table["perturbation"] == "lsam")]
    return lsam[lsam["rho"] == lsam["rho"].max()] if len(lsam) else lsam


def lorenz_sgd_vs_lsam(lorenz: pd.DataFrame | None) -> go.Figure:
    title = "Lorenz curves: real λ of SGD vs phantom λ̃ of LSAM (largest ρ)"
    if not has_rows(lorenz):
        return nothing_yet(title, _NOT_YET)
    require_columns(
        lorenz, ("group", "perturbation", "rho", "weights", "fraction", "cumulative_share"), "feature Lorenz"
    )
    lorenz, when = _earliest(lorenz)
    title += f", {when}"
    groups = list(dict.fromkeys(lorenz["group"]))
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=groups, shared_yaxes=True)
    for col, group in enumerate(groups, start=1):
        sgd = lorenz[(lorenz["group"] == group) & (lorenz["perturbation"] == "sgd") & (lorenz["weights"] == "real")]
        lsam = _largest_lsam(lorenz, group)
        lsam = lsam[lsam["weights"] == "phantom"]
        for i, (name, part) in enumerate((("SGD, real λ", sgd), (f"LSAM ρ {lsam['rho'].max():g}, phantom λ̃", lsam))):
            if part.empty:
                continue
            curve = part.groupby("fraction", as_index=False)["cumulative_share"].mean()
            fig.add_trace(
                go.Scatter(
                    x=curve["fraction"],
                    y=curve["cumulative_share"],
                    mode="lines",
                    name=name,
                    legendgroup=str(i),
                    showlegend=col == 1,
                    line={"color": colour(i)},
                ),
                row=1,
                col=col,
            )
        fig.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": "#999", "dash": "dot"}, showlegend=False),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="fraction of samples (λ ascending)", row=1, col=col)
    fig.update_yaxes(title_text="cumulative share of Σλ", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE, height=420)
    return fig


def lr_factor_distributions(factors: pd.DataFrame | None) -> go.Figure:
    title = "LSAM learning-rate re-weighting ṽ/v per feature, over batches"
    if not has_rows(factors):
        return nothing_yet(title, _NOT_YET)
    require_columns(factors, ("group", "perturbation", "rho", "factor_easy", "factor_hard"), "feature LR factors")
    table = factors[factors["perturbation"] != "sgd"]
    groups = list(dict.fromkeys(table["group"]))
    fig = make_subplots(rows=1, cols=max(len(groups), 1), subplot_titles=groups, shared_yaxes=True)
    for col, group in enumerate(groups, start=1):
        g = table[table["group"] == group]
        x = g["perturbation"] + " ρ " + g["rho"].map("{:g}".format)
        for i, feat in enumerate(("easy", "hard")):
            fig.add_trace(
                go.Box(
                    x=x,
                    y=g[f"factor_{feat}"],
                    name=f"ṽ_{feat}/v_{feat}",
                    legendgroup=feat,
                    showlegend=col == 1,
                    marker_color=colour(i),
                    boxpoints=False,
                ),
                row=1,
                col=col,
            )
    fig.update_layout(title=title, template=TEMPLATE, height=420, boxmode="group", yaxis_title="factor")
    return fig


def lambda_bin_heatmaps(bins: pd.DataFrame | None) -> go.Figure:
    title = "Median importance weight per bin of the feature contributions"
    if not has_rows(bins):
        return nothing_yet(title, _NOT_YET)
    require_columns(
        bins, ("group", "perturbation", "rho", "weights", "easy_bin", "hard_bin", "median_lambda"), "feature λ bins"
    )
    bins, when = _earliest(bins)
    title += f", {when}"
    groups = list(dict.fromkeys(bins["group"]))
    titles = [f"{g}: {w}" for g in groups for w in ("SGD, real λ", "LSAM largest ρ, phantom λ̃")]
    fig = make_subplots(rows=len(groups), cols=2, subplot_titles=titles)
    for r, group in enumerate(groups, start=1):
        sgd = bins[(bins["group"] == group) & (bins["perturbation"] == "sgd") & (bins["weights"] == "real")]
        lsam = _largest_lsam(bins, group)
        for c, part in enumerate((sgd, lsam[lsam["weights"] == "phantom"]), start=1):
            if part.empty:
                continue
            grid = part.groupby(["hard_bin", "easy_bin"])["median_lambda"].mean().unstack()
            fig.add_trace(
                go.Heatmap(
                    z=grid.values,
                    x=[f"easy q{int(i) + 1}" for i in grid.columns],
                    y=[f"hard q{int(i) + 1}" for i in grid.index],
                    zmin=0,
                    zmax=1,
                    colorscale="Viridis",
                    showscale=r == 1 and c == 1,
                ),
                row=r,
                col=c,
            )
    fig.update_layout(
        title=title + " (bins: quantiles of y·v·Φ per feature; seeds averaged)",
        template=TEMPLATE,
        height=320 * len(groups),
    )
    return fig
