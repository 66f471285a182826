"""Plotly figures and tables from the pipelines' outputs (Kedro-free)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def learning_curves(histories: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Train/val loss and accuracy per epoch, one colour per optimizer variant."""
    if not histories:
        raise ValueError("no training history to plot: run the training pipeline first")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for i, (name, h) in enumerate(histories.items()):
        colour = PALETTE[i % len(PALETTE)]
        for col, (metric, dash) in enumerate([("loss", "solid"), ("accuracy", "solid")], start=1):
            for split, style in (("train", "dot"), ("val", dash)):
                fig.add_trace(
                    go.Scatter(x=h["epoch"], y=h[f"{split}_{metric}"], mode="lines", name=f"{name} {split}",
                               legendgroup=name, showlegend=col == 1, line={"color": colour, "dash": style}),
                    row=1, col=col,
                )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title="Learning curves", template="plotly_white", height=420)
    return fig


def summary_table(metrics: Mapping[str, dict]) -> pd.DataFrame:
    """One row per variant: its test/val metrics."""
    if not metrics:
        raise ValueError("no evaluation metrics to summarise: run the training pipeline first")
    rows = [{"variant": name, **{k: v for k, v in m.items() if k != "variant"}} for name, m in metrics.items()]
    cols = ["variant", "optimizer", "test_accuracy", "test_loss", "test_ece", "val_accuracy", "val_loss"]
    df = pd.DataFrame(rows)
    return df[[c for c in cols if c in df.columns] + [c for c in df.columns if c not in cols]]


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency needed)."""
    def fmt(v) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"
