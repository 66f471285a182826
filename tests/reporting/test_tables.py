"""The summary table: merged columns, best per metric in the right direction, markdown/HTML bolding."""

import pandas as pd

from samlab.reporting import best_cells, html_table, markdown_table, metric_numbers, summary_table


def test_summary_merges_robustness_mce_and_transfer():
    metrics = {
        "sgd": {"variant": "sgd", "optimizer": "sgd", "test_accuracy": 0.9, "test_loss": 0.3},
        "sam": {"variant": "sam", "optimizer": "sam", "test_accuracy": 0.95, "test_loss": 0.35},
        "obf": None,
    }
    rob = pd.DataFrame(
        {
            "model": ["sgd", "sgd", "sam"],
            "test_set": "test",
            "corruption": ["a", "b", "a"],
            "severity": [1, 2, 1],
            "accuracy": [0.5, 0.7, 0.8],
        }
    )
    mce = pd.DataFrame({"model": ["sgd", "sam"], "mce": [1.0, 0.8]})
    transfer = pd.DataFrame({"model": ["sam"], "target": ["c10"], "method": ["finetune"], "accuracy": [0.6]})
    df = summary_table(metrics, rob, mce, transfer)
    assert list(df["variant"]) == ["sgd", "sam"]
    assert list(df.columns) == [
        "variant",
        "optimizer",
        "test_accuracy",
        "test_loss",
        "corrupted_accuracy",
        "c10 finetune accuracy",
        "mce",
    ]
    assert df["corrupted_accuracy"].tolist() == [0.6, 0.8] and pd.isna(df.loc[0, "c10 finetune accuracy"])


def test_best_is_highest_accuracy_and_lowest_loss_ece_mce():
    df = pd.DataFrame(
        {
            "variant": ["a", "b", "c"],
            "test_accuracy": [0.9, 0.95, 0.95],
            "test_loss": [0.2, 0.3, 0.4],
            "test_ece": [0.05, 0.01, 0.02],
            "mce": [1.0, 0.9, float("nan")],
            "seed": [0, 1, 2],
            "test_n": [10, 10, 20],
        }
    )
    assert best_cells(df) == {(1, "test_accuracy"), (2, "test_accuracy"), (0, "test_loss"), (1, "test_ece"), (1, "mce")}
    md = markdown_table(df, bold_best=True)
    assert "| a | 0.9000 | **0.2000** | 0.0500 | 1.0000 | 0 | 10 |" in md
    assert "| c | **0.9500** | 0.4000 | 0.0200 |  | 2 | 20 |" in md
    assert "**" not in markdown_table(df)
    html = html_table(df)
    assert html.count('<td class="best"><b>') == 5 and "<td>0.9000</td>" in html


def test_dvc_metrics_are_numbers_only_per_variant():
    df = pd.DataFrame(
        {
            "variant": ["sgd", "sam"],
            "optimizer": ["sgd", "sam"],
            "test_accuracy": [0.9, 0.95],
            "test_n": [10, 10],
            "mce": [1.0, float("nan")],
            "seed": [0, 0],
        }
    )
    assert metric_numbers(df) == {"sgd": {"test_accuracy": 0.9, "mce": 1.0}, "sam": {"test_accuracy": 0.95}}
