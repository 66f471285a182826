"""Kendall's τ between accuracy and a metric over a population of models, with a permutation p-value.

τ comes from ``scipy.stats.kendalltau`` (τ-b); the p-value from ``scipy.stats.permutation_test``
(pairings: the metric is shuffled against accuracy; exact when ``permutations`` ≥ n!), two-sided.
Paper 1 draws a correlation solid only when p ≤ 0.05.

Stratified (``strata``, e.g. the training seed): τ within each stratum, combined as their mean weighted by
the number of pairs, with a p-value from shuffling the metric within strata only. Why: a seed shifts every
member's accuracy together, and pooled ranks mix that shift into τ.

``correlation_table`` columns: ``metric, tau, p_value, n, significant``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

TABLE_COLUMNS = ["metric", "tau", "p_value", "n", "significant"]


def kendall_tau_test(
    x: Sequence[float], y: Sequence[float], permutations: int = 1000, seed: int = 0
) -> tuple[float, float]:
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

    res = stats.permutation_test(
        (x,),
        statistic,
        permutation_type="pairings",
        n_resamples=permutations,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return tau, float(res.pvalue)


def _valid(x: np.ndarray, y: np.ndarray) -> bool:
    return len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0


def stratified_kendall_tau_test(
    x: Sequence[float], y: Sequence[float], strata: Sequence, permutations: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """(pair-weighted mean of the within-stratum τ, two-sided Monte Carlo permutation p with x shuffled within
    strata: (1 + #{|τ*| ≥ |τ|}) / (1 + permutations)). Strata with < 3 pairs or a constant side are left out;
    NaN, NaN when none is left."""
    x, y, strata = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(strata)
    if not x.shape == y.shape == strata.shape or x.ndim != 1:
        raise ValueError(f"need three 1-d sequences of one length, got {x.shape}, {y.shape} and {strata.shape}")
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    groups = [(x[strata == s], y[strata == s]) for s in pd.unique(strata)]
    groups = [(gx, gy) for gx, gy in groups if _valid(gx, gy)]
    if not groups:
        return math.nan, math.nan
    weights = np.array([len(gx) * (len(gx) - 1) / 2 for gx, _ in groups])

    def combined(xs: list[np.ndarray]) -> float:
        taus = [stats.kendalltau(gx, gy).statistic for gx, (_, gy) in zip(xs, groups)]
        return float(np.dot(weights, taus) / weights.sum())

    tau = combined([gx for gx, _ in groups])
    rng = np.random.default_rng(seed)
    null = np.array([combined([rng.permutation(gx) for gx, _ in groups]) for _ in range(permutations)])
    p = (1 + np.count_nonzero(np.abs(null) >= abs(tau) - 1e-12)) / (1 + permutations)
    return tau, float(p)


def correlation_table(
    population: pd.DataFrame,
    metrics: Sequence[str],
    target: str = "test_accuracy",
    permutations: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    strata: str | None = None,
) -> pd.DataFrame:
    """One row per metric: τ of ``target`` with the metric over the rows where both are finite; within each
    value of the column ``strata`` and combined, if given (``stratified_kendall_tau_test``)."""
    missing = [c for c in [target, *metrics, *([strata] if strata else [])] if c not in population.columns]
    if missing:
        raise ValueError(f"population table lacks columns {missing}; has {list(population.columns)}")
    rows = []
    for metric in metrics:
        cols = [target, metric, *([strata] if strata else [])]
        both = population[cols].replace([np.inf, -np.inf], np.nan).dropna(subset=[target, metric])
        if strata:
            tau, p = stratified_kendall_tau_test(both[metric], both[target], both[strata], permutations, seed)
        else:
            tau, p = kendall_tau_test(both[target], both[metric], permutations, seed)
        rows.append(
            {
                "metric": metric,
                "tau": tau,
                "p_value": p,
                "n": len(both),
                "significant": bool(p <= alpha) if p == p else False,
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
