"""``on_step`` callbacks that sample a quantity along training (what ``samlab.train.train`` calls each update).

Why one base: the forgetting and balance recorders differ only in what they measure from a ``StepStats``;
sampling every k updates, the table and the trajectory means are shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from samlab.optim import StepStats


@dataclass
class StepRecorder:
    """Calls ``measure(stats)`` every ``every`` updates and keeps one row per call (``step`` first)."""

    every: int = 10
    rows: list[dict[str, Any]] = field(default_factory=list)
    COLUMNS: ClassVar[list[str]] = ["step"]

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")

    def measure(self, stats: StepStats) -> dict[str, float]:
        raise NotImplementedError

    def __call__(self, step: int, stats: StepStats) -> None:
        if step % self.every == 0:
            self.rows.append({"step": step, **self.measure(stats)})

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.COLUMNS)

    def means(self, columns: list[str], prefix: str) -> dict[str, float]:
        """``{prefix}{column}``: the mean over the recorded steps, NaN where never measured."""
        table = self.table()
        out = {}
        for col in columns:
            values = table[col].dropna()
            out[f"{prefix}{col}"] = float(values.mean()) if len(values) else math.nan
        return out
