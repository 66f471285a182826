"""Final accuracy of every optimizer on every evaluation (clean, corrupted, shifted, transfer), over seeds."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from samlab.reporting.common import TEMPLATE, colour, has_rows, mean_and_spread, nothing_yet, require_columns

CLEAN_CORRUPTIONS = {"none", "clean", ""}
ROBUSTNESS_COLUMNS = ("model", "test_set", "corruption", "severity", "accuracy")
TRANSFER_COLUMNS = ("model", "target", "method", "accuracy")
_SEED_SUFFIX = re.compile(r"^(?P<group>.+?)[_-](?:seed|s)(?P<seed>\d+)$")


def split_seed(model: str, metrics: Mapping | None = None) -> tuple[str, int | None]:
    """(optimizer group, seed) of a model: its metrics' ``group``/``seed`` if given, else a ``_s<k>``/``_seed<k>``
    suffix of its name (``sam_s1`` → ``("sam", 1)``), else the name itself with no seed."""
    metrics = metrics or {}
    match = _SEED_SUFFIX.match(model)
    group = metrics.get("group") or (match["group"] if match else model)
    seed = metrics.get("seed", int(match["seed"]) if match else None)
    return str(group), seed


def is_corrupted(table: pd.DataFrame) -> pd.Series:
    return ~table["corruption"].fillna("none").astype(str).str.lower().isin(CLEAN_CORRUPTIONS) & (table["severity"] > 0)


def accuracy_table(
    metrics: Mapping[str, dict | None], robustness: pd.DataFrame | None = None, transfer: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Tidy final accuracies: columns ``model, group, seed, evaluation, accuracy``.

    - ``metrics``: variant → the training pipeline's ``{variant}.metrics`` dict (``test_accuracy``; optional
      ``group``/``seed``); gives evaluation ``clean``.
    - ``robustness``: one row per model × test set × corruption × severity (``model, test_set, corruption,
      severity, accuracy``); corrupted rows (corruption not ``none``/``clean``, severity > 0) give evaluation
      ``corrupted (mean)`` (mean over corruptions and severities); uncorrupted rows of a shifted set give
      evaluation ``<test_set>`` (rows of the plain ``test`` split are the clean accuracy again and are skipped).
    - ``transfer``: ``model, target, method, accuracy`` → evaluation ``<target> <method>``.
    """
    groups = {name: split_seed(name, m) for name, m in metrics.items() if m}
    rows = [
        {"model": name, "evaluation": "clean", "accuracy": float(m["test_accuracy"])}
        for name, m in metrics.items()
        if m and "test_accuracy" in m
    ]
    if has_rows(robustness):
        require_columns(robustness, ROBUSTNESS_COLUMNS, "robustness table")
        bad = is_corrupted(robustness)
        corrupted = robustness[bad].groupby("model", sort=False)["accuracy"].mean()
        rows += [{"model": m, "evaluation": "corrupted (mean)", "accuracy": a} for m, a in corrupted.items()]
        shifted = robustness[~bad & ~robustness["test_set"].isin(["test", "clean"])]
        rows += [
            {"model": m, "evaluation": str(s), "accuracy": a}
            for (m, s), a in shifted.groupby(["model", "test_set"], sort=False)["accuracy"].mean().items()
        ]
    if has_rows(transfer):
        require_columns(transfer, TRANSFER_COLUMNS, "transfer table")
        for (m, t, meth), a in transfer.groupby(["model", "target", "method"], sort=False)["accuracy"].mean().items():
            rows.append({"model": m, "evaluation": f"{t} {meth}", "accuracy": a})
    table = pd.DataFrame(rows, columns=["model", "evaluation", "accuracy"])
    gs = [groups.get(m, split_seed(m)) for m in table["model"]]
    table.insert(1, "group", [g for g, _ in gs])
    table.insert(2, "seed", [s for _, s in gs])
    return table


def accuracy_bars(table: pd.DataFrame | None) -> go.Figure:
    """Grouped bars: x = evaluation, one bar per optimizer group, height = mean over seeds, error bar = std.

    ``table``: :func:`accuracy_table`'s output (``group, evaluation, accuracy``, one row per model).
    """
    title = "Final accuracy per optimizer"
    if not has_rows(table):
        return nothing_yet(title, "No evaluation metrics yet: run `kedro run --pipelines training`.")
    require_columns(table, ("group", "evaluation", "accuracy"), "accuracy table")
    stats = mean_and_spread(table, ["group", "evaluation"], "accuracy")
    fig = go.Figure()
    for i, (group, s) in enumerate(stats.groupby("group", sort=False)):
        fig.add_trace(
            go.Bar(
                x=s["evaluation"],
                y=s["mean"],
                name=group,
                marker_color=colour(i),
                error_y={"type": "data", "array": s["std"], "visible": bool((s["count"] > 1).any())},
                customdata=s["count"],
                hovertemplate="%{x}: %{y:.4f} (n=%{customdata})",
            )
        )
    seeds = int(stats["count"].max())
    fig.update_layout(
        title=f"{title} (mean ± std over up to {seeds} seed{'s' if seeds > 1 else ''})",
        barmode="group",
        template=TEMPLATE,
        height=420,
        yaxis_title="accuracy",
        yaxis_range=[0, 1.02],
    )
    return fig
