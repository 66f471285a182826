"""Thin nodes over ``samlab.reporting``."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from samlab.reporting import learning_curves, markdown_table, summary_table


def plot_learning_curves(**histories: pd.DataFrame) -> go.Figure:
    return learning_curves(histories)


def summarise_metrics(**metrics: dict) -> tuple[pd.DataFrame, str]:
    table = summary_table(metrics)
    return table, "# samlab summary\n\n" + markdown_table(table)
