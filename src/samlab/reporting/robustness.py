"""Robustness figures from the robustness pipeline's tidy accuracy table."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from samlab.reporting.accuracy import ROBUSTNESS_COLUMNS, is_corrupted
from samlab.reporting.common import TEMPLATE, colour, has_rows, nothing_yet, require_columns

_NOT_YET = "No robustness results yet: run `kedro run --pipelines robustness`."


def _corrupted(table: pd.DataFrame | None) -> pd.DataFrame | None:
    if not has_rows(table):
        return None
    require_columns(table, ROBUSTNESS_COLUMNS, "robustness table")
    rows = table[is_corrupted(table)]
    return rows if len(rows) else None


def robustness_heatmap(table: pd.DataFrame | None) -> go.Figure:
    """Model × corruption heatmap of accuracy averaged over severities (and corrupted test sets).

    ``table``: one row per model × test set × corruption × severity, columns ``model, test_set, corruption,
    severity, accuracy`` (uncorrupted rows — corruption ``none``/``clean`` or severity 0 — are ignored here).
    """
    title = "Accuracy under corruption (mean over severities)"
    rows = _corrupted(table)
    if rows is None:
        return nothing_yet(title, _NOT_YET)
    grid = rows.pivot_table(index="model", columns="corruption", values="accuracy", aggfunc="mean", sort=False)
    grid["mean"] = grid.mean(axis=1)
    fig = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=list(grid.columns),
            y=list(grid.index),
            colorscale="Viridis",
            zmin=0,
            zmax=1,
            colorbar={"title": "accuracy"},
            texttemplate="%{z:.2f}",
            hovertemplate="%{y} / %{x}: %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=max(260, 60 * len(grid) + 160),
        xaxis={"tickangle": -35},
        yaxis={"autorange": "reversed"},
    )
    return fig


def severity_lines(table: pd.DataFrame | None) -> go.Figure:
    """Accuracy vs severity per model, averaged over corruptions; severity 0 is the clean accuracy when the
    table has uncorrupted rows of the same test sets. Same input schema as :func:`robustness_heatmap`."""
    title = "Accuracy vs corruption severity (mean over corruptions)"
    rows = _corrupted(table)
    if rows is None:
        return nothing_yet(title, _NOT_YET)
    clean = table[~is_corrupted(table) & table["test_set"].isin(rows["test_set"].unique())]
    clean = clean.assign(severity=0)
    both = pd.concat([clean, rows])
    fig = go.Figure()
    for i, (model, g) in enumerate(both.groupby("model", sort=False)):
        s = g.groupby("severity")["accuracy"].mean()
        fig.add_trace(
            go.Scatter(x=s.index, y=s.values, mode="lines+markers", name=str(model), line={"color": colour(i)})
        )
    fig.update_layout(
        title=title, template=TEMPLATE, height=400, xaxis={"title": "severity", "dtick": 1}, yaxis={"title": "accuracy"}
    )
    return fig
