"""Per-update training curves: loss (clean and perturbed), ρ, LR and ‖ε‖ against the update number, per variant.

The training loop logs these every ``training.logging.every_n_updates`` updates (interval means; the LR of
the interval's last update). Two sources give the same table, one row per logged update:

* ``TrainResult.updates`` as a DataFrame (columns ``update, epoch, train_loss, perturbed_loss, rho, lr,
  perturbation_norm, images_per_s``);
* the DVCLive files of a run, ``<dir>/dvclive/plots/metrics/train/*.tsv`` (one ``step, <metric>`` file per
  metric), merged by :func:`dvclive_table` — e.g. loaded through a Kedro ``PartitionedDataset``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samlab.reporting.common import TEMPLATE, colour, has_rows, nothing_yet, require_columns

# panel → column of the update table; the perturbed loss shares the loss panel (dotted)
PANELS = {
    "training loss": "train_loss",
    "ρ": "rho",
    "learning rate": "lr",
    "‖ε‖ (perturbation norm)": "perturbation_norm",
}
# DVCLive metric file (train/<name>.tsv) → column of the update table
DVCLIVE_COLUMNS = {
    "loss": "train_loss",
    "perturbed_loss": "perturbed_loss",
    "rho": "rho",
    "lr": "lr",
    "perturbation_norm": "perturbation_norm",
    "images_per_s": "images_per_s",
}


def dvclive_table(partitions: Mapping[str, pd.DataFrame | Callable[[], pd.DataFrame]] | None) -> pd.DataFrame | None:
    """One update table from a run's DVCLive ``train/*.tsv`` files (name → table, or a loader of it).

    Keys are file names with or without ``.tsv`` (``loss``, ``train/loss.tsv``); files that are not per-update
    metrics (``accuracy``: an epoch mean) are left out. ``None`` or no files: ``None``.
    """
    columns = []
    for key, part in (partitions or {}).items():
        name = key.rsplit("/", 1)[-1].removesuffix(".tsv")
        if name not in DVCLIVE_COLUMNS:
            continue
        table = part() if callable(part) else part
        require_columns(table, ("step", name), f"DVCLive file {key!r}")
        columns.append(table.set_index("step")[name].rename(DVCLIVE_COLUMNS[name]))
    if not columns:
        return None
    merged = pd.concat(columns, axis=1).sort_index()
    return merged.rename_axis("update").reset_index()


def update_curves(tables: Mapping[str, pd.DataFrame | None] | None) -> go.Figure:
    """Training loss (solid: clean, dotted: perturbed), ρ, LR and ‖ε‖ per logged update, one colour per variant.

    ``tables``: variant → its update table (``update`` and any of ``train_loss, perturbed_loss, rho, lr,
    perturbation_norm``). Panels no variant has are left out (a plain-SGD run has no ρ or ε).
    """
    present = {name: t for name, t in (tables or {}).items() if has_rows(t)}
    if not present:
        return nothing_yet(
            "Per-update curves",
            "No per-update curves yet: train with a `training.logging` block "
            "(DVCLive by default) — `kedro run --pipelines training`.",
        )
    for name, t in present.items():
        require_columns(t, ("update", "train_loss"), f"update table of {name!r}")
    panels = [
        (title, col)
        for title, col in PANELS.items()
        if any(col in t.columns and t[col].notna().any() for t in present.values())
    ]
    cols = 2 if len(panels) > 1 else 1
    rows = -(-len(panels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[title for title, _ in panels], vertical_spacing=0.16)
    for i, (name, t) in enumerate(present.items()):
        line = {"color": colour(i)}
        for p, (_title, col) in enumerate(panels):
            r, c = p // cols + 1, p % cols + 1
            if col in t.columns and t[col].notna().any():
                fig.add_trace(
                    go.Scatter(
                        x=t["update"], y=t[col], mode="lines", name=name, legendgroup=name, showlegend=p == 0, line=line
                    ),
                    row=r,
                    col=c,
                )
            if col == "train_loss" and "perturbed_loss" in t.columns and t["perturbed_loss"].notna().any():
                fig.add_trace(
                    go.Scatter(
                        x=t["update"],
                        y=t["perturbed_loss"],
                        mode="lines",
                        name=f"{name} perturbed",
                        legendgroup=name,
                        showlegend=False,
                        line={**line, "dash": "dot"},
                    ),
                    row=r,
                    col=c,
                )
    fig.update_xaxes(title_text="update", row=rows)
    fig.update_layout(
        title="Per-update curves (loss: solid clean, dotted perturbed)",
        template=TEMPLATE,
        height=320 * rows,
        legend={"groupclick": "togglegroup"},
    )
    return fig
