"""Kendall τ and exact permutation p-values on vectors small enough to count by hand."""

import math

import pandas as pd
import pytest

from samlab.analysis.correlation import correlation_table, kendall_tau_test


def test_perfect_order_tau_one_and_exact_p():
    tau, p = kendall_tau_test([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], permutations=1000)
    assert tau == pytest.approx(1.0) and p == pytest.approx(2 / 120)  # only the identity and reversal are as extreme
    tau, p = kendall_tau_test([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], permutations=1000)
    assert tau == pytest.approx(-1.0) and p == pytest.approx(2 / 120)


def test_one_swap_tau_and_p_by_counting():
    # 5 concordant, 1 discordant pair: τ = 4/6; |τ| ≥ 2/3 for 0, 1, 5 or 6 inversions: (1+3+3+1)/24 permutations
    tau, p = kendall_tau_test([1, 2, 3, 4], [1, 3, 2, 4], permutations=100)
    assert tau == pytest.approx(2 / 3) and p == pytest.approx(8 / 24)


def test_degenerate_inputs():
    assert all(math.isnan(v) for v in kendall_tau_test([1, 2], [2, 1]))
    assert all(math.isnan(v) for v in kendall_tau_test([1, 2, 3], [1, 1, 1]))
    with pytest.raises(ValueError):
        kendall_tau_test([1, 2, 3], [1, 2])


def test_correlation_table_drops_missing_rows():
    df = pd.DataFrame({"test_accuracy": [0.1, 0.2, 0.3, 0.4, 0.5], "sharp": [5, 4, 3, 2, 1],
                       "kl": [1, 2, float("nan"), 3, 4]})
    table = correlation_table(df, ["sharp", "kl"], permutations=500)
    assert list(table.columns) == ["metric", "tau", "p_value", "n", "significant"]
    sharp, kl = table.set_index("metric").loc["sharp"], table.set_index("metric").loc["kl"]
    assert sharp["tau"] == pytest.approx(-1.0) and sharp["n"] == 5 and sharp["significant"]
    assert kl["tau"] == pytest.approx(1.0) and kl["n"] == 4 and kl["p_value"] == pytest.approx(2 / 24)
    with pytest.raises(ValueError, match="lacks"):
        correlation_table(df, ["nope"])
