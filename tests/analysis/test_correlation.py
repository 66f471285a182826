"""Kendall τ and exact permutation p-values on vectors small enough to count by hand."""

import math

import pandas as pd
import pytest

from samlab.analysis.correlation import correlation_table, kendall_tau_test, stratified_kendall_tau_test


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
    df = pd.DataFrame(
        {"test_accuracy": [0.1, 0.2, 0.3, 0.4, 0.5], "sharp": [5, 4, 3, 2, 1], "kl": [1, 2, float("nan"), 3, 4]}
    )
    table = correlation_table(df, ["sharp", "kl"], permutations=500)
    assert list(table.columns) == ["metric", "tau", "p_value", "n", "significant"]
    sharp, kl = table.set_index("metric").loc["sharp"], table.set_index("metric").loc["kl"]
    assert sharp["tau"] == pytest.approx(-1.0) and sharp["n"] == 5 and sharp["significant"]
    assert kl["tau"] == pytest.approx(1.0) and kl["n"] == 4 and kl["p_value"] == pytest.approx(2 / 24)
    with pytest.raises(ValueError, match="lacks"):
        correlation_table(df, ["nope"])


def test_stratified_tau_is_the_pair_weighted_mean_of_within_stratum_taus():
    # stratum a: 3 points concordant (3 pairs, τ 1); b: 4 points discordant (6 pairs, τ −1) → (3 − 6)/9
    x = [1, 2, 3, 1, 2, 3, 4]
    y = [1, 2, 3, 4, 3, 2, 1]
    tau, _ = stratified_kendall_tau_test(x, y, ["a"] * 3 + ["b"] * 4, permutations=50)
    assert tau == pytest.approx(-1 / 3)
    # equal strata of opposite sign cancel: τ 0, and every shuffle is at least as extreme, so p = 1
    tau, p = stratified_kendall_tau_test([1, 2, 3, 1, 2, 3], [1, 2, 3, 3, 2, 1], [0, 0, 0, 1, 1, 1], permutations=200)
    assert tau == pytest.approx(0.0) and p == pytest.approx(1.0)
    # one stratum: plain Kendall τ
    one, _ = stratified_kendall_tau_test([1, 2, 3, 4], [1, 3, 2, 4], [7, 7, 7, 7], permutations=10)
    assert one == pytest.approx(kendall_tau_test([1, 2, 3, 4], [1, 3, 2, 4])[0])


def test_stratified_tau_removes_a_per_seed_offset_that_hides_the_pooled_correlation():
    # within each seed accuracy falls with sharpness; seed 1 is sharper *and* more accurate overall
    sharp = [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]
    acc = [0.50, 0.49, 0.48, 0.47, 0.46, 0.60, 0.59, 0.58, 0.57, 0.56]
    seeds = [0] * 5 + [1] * 5
    pooled, _ = kendall_tau_test(sharp, acc, permutations=100)
    assert pooled > 0  # pooled ranks see the seed offset
    tau, p = stratified_kendall_tau_test(sharp, acc, seeds, permutations=2000, seed=0)
    # only both strata at their identity/reversal are as extreme: 2/(120·120) per shuffle
    assert tau == pytest.approx(-1.0) and p < 0.005
    table = correlation_table(
        pd.DataFrame({"test_accuracy": acc, "sharp": sharp, "seed": seeds}), ["sharp"], permutations=500, strata="seed"
    )
    assert table["tau"][0] == pytest.approx(-1.0) and bool(table["significant"][0]) and table["n"][0] == 10
    with pytest.raises(ValueError, match="lacks"):
        correlation_table(pd.DataFrame({"test_accuracy": acc, "sharp": sharp}), ["sharp"], strata="seed")


def test_stratified_degenerate_strata_are_left_out():
    tau, _ = stratified_kendall_tau_test([1, 2, 3, 1, 2], [1, 2, 3, 2, 1], [0, 0, 0, 1, 1], permutations=20)
    assert tau == pytest.approx(1.0)  # stratum 1 has one pair only
    assert all(math.isnan(v) for v in stratified_kendall_tau_test([1, 2, 1, 2], [1, 2, 2, 1], [0, 0, 1, 1]))
    with pytest.raises(ValueError, match="one length"):
        stratified_kendall_tau_test([1, 2, 3], [1, 2, 3], [0, 0])
