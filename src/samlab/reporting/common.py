"""What every figure builder shares: colours, input checks, and the "nothing to report yet" figure.

A figure builder takes the producing pipeline's table (``None`` when that pipeline has not run) and returns a
``plotly`` figure. With no rows to draw it returns :func:`nothing_yet`, a figure that says so in words (no axes,
no empty chart); :func:`is_nothing_yet` lets the HTML report print that sentence instead of a blank plot.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
TEMPLATE = "plotly_white"
_NOTHING_KEY = "samlab_nothing_yet"


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nothing_yet(title: str, reason: str) -> go.Figure:
    """A figure with no axes whose only content is ``reason`` (e.g. which pipeline to run)."""
    fig = go.Figure()
    fig.add_annotation(text=reason, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14})
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=220,
        xaxis={"visible": False},
        yaxis={"visible": False},
        meta={_NOTHING_KEY: reason},
    )
    return fig


def is_nothing_yet(fig: go.Figure) -> str | None:
    """The reason text when ``fig`` came from :func:`nothing_yet`, else ``None``."""
    meta = fig.layout.meta
    return meta.get(_NOTHING_KEY) if isinstance(meta, dict) else None


def has_rows(table: pd.DataFrame | None) -> bool:
    return table is not None and len(table) > 0


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Fail with the table's name and the missing columns, so a schema drift is found at once."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; it has {list(table.columns)}")


def mean_and_spread(table: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, standard deviation (0 for one sample) and count of ``value`` per group, groups in first-seen order."""
    g = table.groupby(by, sort=False)[value]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out
