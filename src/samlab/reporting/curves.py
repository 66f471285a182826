"""Learning curves: loss and accuracy per epoch for every optimizer variant, with its lr and rho."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samlab.reporting.common import TEMPLATE, colour, has_rows, nothing_yet, require_columns

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")


def learning_curves(histories: Mapping[str, pd.DataFrame | None] | None) -> go.Figure:
    """Train (dotted) and val (solid) loss and accuracy vs epoch, one colour per variant; lr and rho below.

    ``histories``: variant name → the training pipeline's ``{variant}.history`` table, one row per epoch with
    columns ``epoch, train_loss, val_loss, train_accuracy, val_accuracy`` and optionally ``lr``, ``rho``
    (epoch means; a SGD run's rho is 0). ``None`` or empty tables are variants not trained yet.
    """
    present = {name: h for name, h in (histories or {}).items() if has_rows(h)}
    if not present:
        return nothing_yet("Learning curves", "No training history yet: run `kedro run --pipelines training`.")
    for name, h in present.items():
        require_columns(h, HISTORY_COLUMNS, f"history of {name!r}")
    schedule = [c for c in ("lr", "rho") if any(c in h.columns for h in present.values())]
    rows = 2 if schedule else 1
    fig = make_subplots(
        rows=rows,
        cols=2,
        vertical_spacing=0.14,
        subplot_titles=("loss", "accuracy", *(f"{c} (epoch mean)" for c in schedule)),
    )
    for i, (name, h) in enumerate(present.items()):
        line = {"color": colour(i)}
        for col, metric in enumerate(("loss", "accuracy"), start=1):
            for split, dash in (("train", "dot"), ("val", "solid")):
                fig.add_trace(
                    go.Scatter(
                        x=h["epoch"],
                        y=h[f"{split}_{metric}"],
                        mode="lines+markers",
                        name=f"{name} {split}",
                        legendgroup=name,
                        showlegend=col == 1,
                        line={**line, "dash": dash},
                        marker={"size": 4},
                    ),
                    row=1,
                    col=col,
                )
        for col, c in enumerate(schedule, start=1):
            if c in h.columns:
                fig.add_trace(
                    go.Scatter(
                        x=h["epoch"],
                        y=h[c],
                        mode="lines",
                        name=f"{name} {c}",
                        legendgroup=name,
                        showlegend=False,
                        line=line,
                    ),
                    row=2,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch", row=rows)
    if max(h["epoch"].max() for h in present.values()) <= 20:
        fig.update_xaxes(dtick=1)  # whole epochs, not 1.2, 1.4 …
    fig.update_layout(
        title="Learning curves (dotted: train, solid: val)",
        template=TEMPLATE,
        height=360 * rows,
        legend={"groupclick": "togglegroup"},
    )
    return fig
