"""Kendall's τ between accuracy and a metric over a population of models, with a permutation p-value.

τ comes from ``scipy.stats.kendalltau`` (τ-b); the p-value from ``scipy.stats.permutation_test``
(pairings: the metric is shuffled against accuracy; exact when ``permutations`` ≥ n!), two-sided.
Paper 1 draws a correlation solid only when p ≤ 0.05.

``correlation_table`` columns: ``metric, tau, p_value, n, significant``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

TABLE_COLUMNS = ["metric", "tau", "p_value", "n", "significant"]


def kendall_tau_test(x: Sequence[float], y: Sequence[float], permutations: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(τ, two-sided permutation-test p) for paired samples; NaN, NaN below 3 pairs or for a constant side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"need two 1-d sequences of one length, got {x.shape} and {y.shape}")
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    tau = float(stats.kendalltau(x, y).statistic)

    def statistic(a: np.ndarray) -> float:
        return stats.kendalltau(a, y).statistic

    res = stats.permutation_test((x,), statistic, permutation_type="pairings", n_resamples=permutations,
                                 alternative="two-sided", rng=np.random.default_rng(seed))
    return tau, float(res.pvalue)


def correlation_table(
    population: pd.DataFrame, metrics: Sequence[str], target: str = "test_accuracy", permutations: int = 1000,
    seed: int = 0, alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per metric: τ of ``target`` with the metric over the rows where both are finite."""
    missing = [c for c in [target, *metrics] if c not in population.columns]
    if missing:
        raise ValueError(f"population table lacks columns {missing}; has {list(population.columns)}")
    rows = []
    for metric in metrics:
        both = population[[target, metric]].replace([np.inf, -np.inf], np.nan).dropna()
        tau, p = kendall_tau_test(both[target], both[metric], permutations, seed)
        rows.append({"metric": metric, "tau": tau, "p_value": p, "n": len(both),
                     "significant": bool(p <= alpha) if p == p else False})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
