"""The summary table (optimizer × metric) and its markdown/HTML renderings with the best value bolded."""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd

from samlab.reporting.accuracy import accuracy_table
from samlab.reporting.common import has_rows, require_columns

_FIRST = ["variant", "optimizer", "test_accuracy", "test_loss", "test_ece", "val_accuracy", "val_loss"]
_LOWER_IS_BETTER = ("loss", "ece", "error", "mce", "nll", "time")


def lower_is_better(column: str) -> bool:
    return any(word in column.lower() for word in _LOWER_IS_BETTER)


def summary_table(
    metrics: Mapping[str, dict | None],
    robustness: pd.DataFrame | None = None,
    mce: pd.DataFrame | None = None,
    transfer: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per trained variant: its ``{variant}.metrics`` values, then (when those tables exist)
    ``corrupted_accuracy`` (mean over corruptions × severities), shifted-set accuracies, ``mce`` (from the
    robustness pipeline's ``model, mce`` table) and ``<target> <method>`` transfer accuracies.
    Variants whose metrics are ``None`` (not trained yet) are left out; an empty table if none is."""
    present = {name: m for name, m in metrics.items() if m}
    if not present:
        return pd.DataFrame(columns=["variant"])
    df = pd.DataFrame(
        [{"variant": name, **{k: v for k, v in m.items() if k != "variant"}} for name, m in present.items()]
    )
    df = df[[c for c in _FIRST if c in df.columns] + [c for c in df.columns if c not in _FIRST]]
    extra = accuracy_table({}, robustness, transfer)
    if len(extra):
        wide = extra.pivot_table(index="model", columns="evaluation", values="accuracy", sort=False)
        wide.columns = ["corrupted_accuracy" if c == "corrupted (mean)" else f"{c} accuracy" for c in wide.columns]
        df = df.merge(wide, left_on="variant", right_index=True, how="left")
    if has_rows(mce):
        require_columns(mce, ("model", "mce"), "mCE table")
        df = df.merge(mce[["model", "mce"]].rename(columns={"model": "variant"}), on="variant", how="left")
    return df


def metric_numbers(summary: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The summary table as ``{variant: {metric: value}}`` with numbers only (DVC's metrics file): strings,
    booleans, counts (``*_n``), seeds, epochs and missing values are left out."""
    out: dict[str, dict[str, float]] = {}
    for _, row in summary.iterrows():
        values = {}
        for col, v in row.items():
            if col in ("variant", "seed", "epochs") or str(col).endswith("_n") or isinstance(v, (bool, str)):
                continue
            if isinstance(v, (int, float)) and not pd.isna(v):
                values[str(col)] = float(v)
        out[str(row["variant"])] = values
    return out


def best_cells(df: pd.DataFrame) -> set[tuple[int, str]]:
    """(row position, column) of the best value of every numeric column with ≥ 2 values (ties all count);
    lower is better for losses, ECE, errors, mCE and times, higher for the rest. Booleans, seeds, epochs and
    counts (``*_n``) are not scored."""
    best = set()
    for col in df.columns:
        s = df[col]
        if (
            col in ("seed", "epochs")
            or str(col).endswith("_n")
            or pd.api.types.is_bool_dtype(s)
            or not pd.api.types.is_numeric_dtype(s)
            or s.notna().sum() < 2
        ):
            continue
        target = s.min() if lower_is_better(col) else s.max()
        best |= {(i, col) for i, v in enumerate(s) if v == target}
    return best


def _fmt(v, floatfmt: str) -> str:
    if isinstance(v, float):
        return "" if pd.isna(v) else format(v, floatfmt)
    return str(v)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4f", bold_best: bool = False) -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency); ``bold_best`` bolds :func:`best_cells`."""
    best = best_cells(df) if bold_best else set()
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "|".join("---" for _ in df.columns) + "|"]
    for i, row in enumerate(df.itertuples(index=False)):
        cells = [_fmt(v, floatfmt) for v in row]
        cells = [f"**{c}**" if (i, col) in best else c for c, col in zip(cells, df.columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def html_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """An HTML table with the best value of each numeric column in ``<b>`` (class ``best``)."""
    best = best_cells(df)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cells = []
        for v, col in zip(row, df.columns):
            text = html.escape(_fmt(v, floatfmt))
            cells.append(f'<td class="best"><b>{text}</b></td>' if (i, col) in best else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
