"""Each figure builder on small hand-made tables in its documented schema, with hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from samlab.reporting import (
    accuracy_bars,
    accuracy_table,
    balance_trajectory,
    gini,
    is_nothing_yet,
    learning_curves,
    lorenz_curves,
    lr_rescaling,
    metric_vs_accuracy,
    obf_hyperparameters,
    probe_error_vs_rho,
    robustness_heatmap,
    severity_lines,
    split_seed,
    tau_vs_m,
)

BUILDERS = [
    learning_curves,
    accuracy_bars,
    robustness_heatmap,
    severity_lines,
    metric_vs_accuracy,
    tau_vs_m,
    lorenz_curves,
    probe_error_vs_rho,
    lr_rescaling,
    obf_hyperparameters,
    balance_trajectory,
]


def history(offset=0.0):
    return pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [2.0, 1.0, 0.5],
            "val_loss": [2.1, 1.2, 0.9],
            "train_accuracy": [0.3, 0.6, 0.8],
            "val_accuracy": [0.3 + offset, 0.5, 0.7],
            "lr": [0.1, 0.05, 0.0],
            "rho": [0.05, 0.05, 0.05],
        }
    )


def robustness():
    rows = [
        {"model": m, "test_set": "test", "corruption": "none", "severity": 0, "accuracy": clean}
        for m, clean in (("sgd", 0.9), ("sam", 0.95))
    ]
    for m, base in (("sgd", 0.8), ("sam", 0.85)):
        for c, shift in (("noise", 0.0), ("blur", -0.2)):
            rows += [
                {"model": m, "test_set": "test", "corruption": c, "severity": s, "accuracy": base + shift - 0.1 * s}
                for s in (1, 2)
            ]
    rows.append({"model": "sam", "test_set": "hard_only", "corruption": "none", "severity": 0, "accuracy": 0.4})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("table", [None, "empty"])
def test_no_table_gives_a_sentence_not_an_empty_chart(builder, table):
    if table == "empty":
        table = {} if builder is learning_curves else pd.DataFrame()
    fig = builder(table)
    reason = is_nothing_yet(fig)
    assert reason and "yet" in reason and "kedro run" in reason
    assert len(fig.data) == 0 and fig.layout.xaxis.visible is False


def test_learning_curves_draw_loss_accuracy_lr_and_rho_of_every_variant():
    fig = learning_curves({"sgd": history(), "sam": history(0.1), "untrained": None})
    names = [t.name for t in fig.data]
    assert {"sgd train", "sgd val", "sam train", "sam val", "sam lr", "sam rho"} <= set(names)
    assert not any(n.startswith("untrained") for n in names)
    val = next(t for t in fig.data if t.name == "sam val" and t.yaxis == "y2")  # the accuracy panel
    assert list(val.y) == [0.4, 0.5, 0.7]
    assert [a.text for a in fig.layout.annotations] == ["loss", "accuracy", "lr (epoch mean)", "rho (epoch mean)"]


def test_learning_curves_name_a_missing_column():
    with pytest.raises(ValueError, match=r"history of 'sgd': missing column\(s\) \['val_accuracy'\]"):
        learning_curves({"sgd": history().drop(columns="val_accuracy")})


def test_seed_suffixes_group_models():
    assert split_seed("sam_s1") == ("sam", 1)
    assert split_seed("gsam_obf_seed12") == ("gsam_obf", 12)
    assert split_seed("sam") == ("sam", None)
    assert split_seed("x_s3", {"group": "obf", "seed": 7}) == ("obf", 7)


def test_accuracy_table_and_bars_average_over_seeds():
    metrics = {"sgd_s0": {"test_accuracy": 0.8}, "sgd_s1": {"test_accuracy": 0.9}, "sam_s0": {"test_accuracy": 0.95}}
    rob = robustness().replace({"model": {"sgd": "sgd_s0", "sam": "sam_s0"}})
    transfer = pd.DataFrame({"model": ["sam_s0"], "target": ["parity"], "method": ["probe"], "accuracy": [0.7]})
    table = accuracy_table(metrics, rob, transfer)
    got = {(r.model, r.evaluation): r.accuracy for r in table.itertuples()}
    # sgd corrupted: noise 0.7, 0.6; blur 0.5, 0.4 → 0.55; shifted set only for sam; clean rows of "test" skipped
    assert got[("sgd_s0", "corrupted (mean)")] == pytest.approx(0.55)
    assert got[("sam_s0", "corrupted (mean)")] == pytest.approx(0.60)
    assert got[("sam_s0", "hard_only")] == 0.4 and got[("sam_s0", "parity probe")] == 0.7
    assert ("sgd_s0", "test") not in got and set(table["group"]) == {"sgd", "sam"}
    fig = accuracy_bars(table)
    sgd = next(t for t in fig.data if t.name == "sgd")
    i = list(sgd.x).index("clean")
    assert sgd.y[i] == pytest.approx(0.85) and sgd.error_y.array[i] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert "2 seeds" in fig.layout.title.text


def test_robustness_heatmap_averages_severities_and_lines_start_at_clean():
    fig = robustness_heatmap(robustness())
    hm = fig.data[0]
    assert list(hm.y) == ["sgd", "sam"] and list(hm.x) == ["noise", "blur", "mean"]
    assert np.allclose(hm.z, [[0.65, 0.45, 0.55], [0.70, 0.50, 0.60]])
    lines = severity_lines(robustness())
    sgd = next(t for t in lines.data if t.name == "sgd")
    assert list(sgd.x) == [0, 1, 2] and np.allclose(sgd.y, [0.9, 0.6, 0.5])  # mean over noise and blur


def test_heatmap_without_corrupted_rows_says_so():
    clean_only = robustness().query("corruption == 'none'")
    assert "No robustness results yet" in is_nothing_yet(robustness_heatmap(clean_only))


def test_robustness_table_with_a_wrong_schema_is_named():
    with pytest.raises(ValueError, match=r"robustness table: missing column\(s\) \['severity'\]"):
        robustness_heatmap(robustness().drop(columns="severity"))


def test_metric_vs_accuracy_puts_tau_and_p_in_titles():
    models = pd.DataFrame(
        {
            "model": list("abcd") * 2,
            "accuracy": [0.1, 0.2, 0.3, 0.4] * 2,
            "metric": ["sharpness"] * 4 + ["kl"] * 4,
            "value": [4, 3, 2, 1, 1, 2, 3, 5],
        }
    )
    corr = pd.DataFrame({"metric": ["sharpness"], "tau": [-0.9], "p_value": [0.02]})
    fig = metric_vs_accuracy(models, corr)
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "sharpness: τ = -0.90, p = 0.02 (perm.)"
    assert titles[1].startswith("kl: τ = 1.00, p = ") and titles[1].endswith("(asympt.)")  # scipy: monotone → 1
    assert list(fig.data[1].x) == [1, 2, 3, 5] and list(fig.data[1].y) == [0.1, 0.2, 0.3, 0.4]


def test_tau_vs_m_fills_only_significant_markers():
    table = pd.DataFrame({"metric": ["kl"] * 3, "m": [16, 1, 4], "tau": [0.1, 0.6, 0.4], "p_value": [0.5, 0.01, 0.05]})
    trace = tau_vs_m(table).data[0]
    assert list(trace.x) == [1, 4, 16] and list(trace.marker.symbol) == ["circle", "circle", "circle-open"]


def test_gini_of_hand_computed_lorenz_curves():
    f = np.array([0.25, 0.5, 0.75, 1.0])
    assert gini(f, f) == pytest.approx(0.0)  # equal weights
    assert gini(f, np.array([0, 0, 0, 1.0])) == pytest.approx(0.75)  # one sample holds everything (n = 4)
    lorenz = pd.DataFrame(
        {
            "variant": "m",
            "weights": ["real"] * 4 + ["phantom"] * 4,
            "fraction": list(f) * 2,
            "cumulative_share": [0, 0, 0, 1.0, *f],
        }
    )
    names = [t.name for t in lorenz_curves(lorenz).data]
    assert names == ["equality", "m real (Gini 0.750)", "m phantom (Gini 0.000)"]


def test_probe_error_is_one_minus_accuracy_averaged_over_seeds():
    table = pd.DataFrame(
        {
            "variant": ["a", "b", "c", "d"],
            "rho": [0.0, 0.0, 0.1, 0.1],
            "feature": "hard",
            "accuracy": [0.6, 0.7, 0.8, 0.8],
        }
    )
    trace = probe_error_vs_rho(table).data[0]
    assert trace.name == "hard feature" and np.allclose(trace.y, [0.35, 0.2])
    assert trace.error_y.array[0] == pytest.approx(np.std([0.4, 0.3], ddof=1))


def test_lr_rescaling_draws_the_last_epoch_sorted():
    table = pd.DataFrame(
        {
            "variant": "lsam",
            "feature": [0, 1, 2, 0, 1, 2],
            "factor": [9, 9, 9, 1.0, 1.5, 0.5],
            "epoch": [1, 1, 1, 2, 2, 2],
        }
    )
    trace = lr_rescaling(table).data[0]
    assert list(trace.y) == [1.5, 1.0, 0.5] and list(trace.text) == ["1", "0", "2"]


def test_obf_figure_draws_swept_values_only():
    table = pd.DataFrame(
        {
            "gamma": [1e-12, 0.5, 1.0, 1.0, 1.0],
            "lambda": [0.1, 0.1, 0.1, 0.3, 0.5],
            "accuracy": [0.8, 0.82, 0.85, 0.83, 0.81],
        }
    )
    fig = obf_hyperparameters(table)
    assert [t.name for t in fig.data] == ["lambda = 0.1", "gamma = 1"]
    assert list(fig.data[0].y) == [0.8, 0.82, 0.85] and list(fig.data[1].x) == [0.1, 0.3, 0.5]
    assert list(fig.data[0].x) == ["1e-12", "0.5", "1"] and fig.layout.xaxis.type == "category"
    assert "at least two values" in is_nothing_yet(obf_hyperparameters(table.iloc[[0]]))


def test_balance_trajectory_averages_seeds_and_draws_the_phantom_gap():
    table = pd.DataFrame(
        {
            "variant": ["sam_s0", "sam_s0", "sam_s1", "sam_s1", "sgd_s0", "sgd_s0"],
            "step": [10, 20, 10, 20, 10, 20],
            "gini_real": [0.4, 0.6, 0.6, 0.8, 0.5, 0.7],
            "gini_phantom": [0.3, 0.5, 0.3, 0.5, np.nan, np.nan],
        }
    )
    fig = balance_trajectory(table)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"sam real", "sam phantom", "sam Δ", "sgd real"}  # SGD: no phantom line
    assert list(by_name["sam real"].y) == pytest.approx([0.5, 0.7]) and list(by_name["sam real"].x) == [10, 20]
    assert list(by_name["sam phantom"].y) == pytest.approx([0.3, 0.5]) and by_name["sam phantom"].line.dash == "dash"
    assert list(by_name["sam Δ"].y) == pytest.approx([-0.2, -0.2])
    with pytest.raises(ValueError, match="gini_phantom"):
        balance_trajectory(table.drop(columns="gini_phantom"))


def test_an_empty_probe_table_says_the_data_has_no_probe_splits():
    empty = pd.DataFrame(columns=["variant", "rho", "feature", "accuracy"])  # the analysis ran on digits
    assert "no `*_only_*` probe splits" in is_nothing_yet(probe_error_vs_rho(empty))
    assert "run `kedro run --pipelines analysis`" in is_nothing_yet(probe_error_vs_rho(None))
