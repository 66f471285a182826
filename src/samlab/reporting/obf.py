"""OBF's hyper-parameters (paper 1, Fig. 3 style): accuracy vs gamma and vs lambda."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samlab.reporting.common import TEMPLATE, colour, has_rows, mean_and_spread, nothing_yet, require_columns

OBF_COLUMNS = ("gamma", "lambda", "accuracy")


def obf_hyperparameters(table: pd.DataFrame | None) -> go.Figure:
    """Left: accuracy vs γ, one line per λ; right: accuracy vs λ, one line per γ; mean ± std over seeds. Only
    values swept (≥ 2 points on a line) are drawn. γ is drawn as ordered categories: the sweeps mix γ → 0
    (1e-12, the reference runs' value) with γ ∈ (0, 1], which a log axis would squeeze into one corner.

    ``table``: ``gamma, lambda, accuracy`` (one row per OBF model; optional ``seed``).
    """
    title = "OBF hyper-parameters: accuracy vs γ and vs λ"
    if not has_rows(table):
        return nothing_yet(title, "No OBF sweep yet: run `kedro run --pipelines study`.")
    require_columns(table, OBF_COLUMNS, "OBF sweep table")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy vs γ", "accuracy vs λ"), horizontal_spacing=0.1)
    drawn = 0
    for col, (x, other) in enumerate((("gamma", "lambda"), ("lambda", "gamma")), start=1):
        for i, (fixed, g) in enumerate(table.groupby(other, sort=True)):
            s = mean_and_spread(g, [x], "accuracy").sort_values(x)
            if len(s) < 2:
                continue
            drawn += 1
            xs = [f"{v:g}" for v in s[x]] if x == "gamma" else s[x]
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=s["mean"],
                    mode="lines+markers",
                    name=f"{other} = {fixed:g}",
                    error_y={"type": "data", "array": s["std"], "visible": bool((s["count"] > 1).any())},
                    line={"color": colour(i + 5 * (col - 1))},
                ),
                row=1,
                col=col,
            )
        order = {"categoryorder": "array", "categoryarray": [f"{v:g}" for v in sorted(table["gamma"].unique())]}
        fig.update_xaxes(title_text=x, **({"type": "category", **order} if x == "gamma" else {}), row=1, col=col)
    if not drawn:
        return nothing_yet(title, "The OBF table has no swept γ or λ (each needs at least two values).")
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE, height=420)
    return fig
