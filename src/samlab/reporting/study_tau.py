"""Paper 1's Fig. 2 as the paper draws it: Kendall τ of accuracy with each metric against m, one panel per
metric, the line solid only between m values whose τ has p ≤ 0.05 and dotted elsewhere."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samlab.reporting.common import TEMPLATE, colour, has_rows, nothing_yet, require_columns

SIGNIFICANT = 0.05


def tau_vs_m_panels(table: pd.DataFrame | None, alpha: float = SIGNIFICANT) -> go.Figure:
    """``table``: ``metric, m, tau, p_value`` (``study_tau_vs_m``). A segment is solid when both of its ends
    are significant; markers are filled where p ≤ ``alpha``."""
    title = f"Kendall τ(accuracy, metric) vs m (solid: p ≤ {alpha:g})"
    if not has_rows(table):
        return nothing_yet(title, "No τ study yet: run `kedro run --pipelines study --tags tau`.")
    require_columns(table, ("metric", "m", "tau", "p_value"), "τ-vs-m table")
    metrics = list(dict.fromkeys(table["metric"]))
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=metrics, shared_yaxes=True)
    for i, metric in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        g = table[table["metric"] == metric].sort_values("m").dropna(subset=["tau"])
        sig = (g["p_value"] <= alpha).to_numpy()
        m, tau = g["m"].to_numpy(), g["tau"].to_numpy()
        for k in range(len(g) - 1):
            fig.add_trace(
                go.Scatter(
                    x=m[k : k + 2],
                    y=tau[k : k + 2],
                    mode="lines",
                    showlegend=False,
                    hoverinfo="skip",
                    line={"color": colour(i), "dash": "solid" if sig[k] and sig[k + 1] else "dot"},
                ),
                row=r,
                col=c,
            )
        fig.add_trace(
            go.Scatter(
                x=m,
                y=tau,
                mode="markers",
                showlegend=False,
                customdata=g["p_value"],
                hovertemplate="m=%{x}: τ=%{y:.3f}, p=%{customdata:.3g}",
                marker={"color": colour(i), "size": 8, "symbol": ["circle" if s else "circle-open" for s in sig]},
            ),
            row=r,
            col=c,
        )
        fig.add_hline(y=0, line={"color": "#999", "dash": "dot", "width": 1}, row=r, col=c)
        fig.update_xaxes(type="log", dtick=math.log10(2), title_text="m", row=r, col=c)
    fig.update_yaxes(range=[-1.05, 1.05], title_text="Kendall τ", col=1)
    fig.update_layout(title=title, template=TEMPLATE, height=300 * rows)
    return fig
