"""The per-update curves figure (samlab.reporting.updates) from a real run's DVCLive files, loaded the way the
catalog would (a Kedro PartitionedDataset of tab-separated files), and from ``TrainResult.updates``."""

from __future__ import annotations

import pandas as pd
import pytest

from samlab.data import prepare_digits
from samlab.reporting.common import is_nothing_yet
from samlab.reporting.updates import dvclive_table, update_curves
from samlab.train import train


def test_dvclive_files_and_the_result_give_the_same_table_and_figure(tmp_path):
    from kedro_datasets.partitions import PartitionedDataset

    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = data.splits["train"]
    data.splits["train"] = (images[:128], labels[:128])  # 4 updates per epoch
    cfg = {
        "epochs": 2,
        "batch_size": 32,
        "progress": False,
        "logging": {"every_n_updates": 2, "dir": str(tmp_path / "{name}")},
    }
    results = {
        name: train(data, {"name": "samlab_mlp"}, opt, cfg, name=name)
        for name, opt in (("sgd", {"name": "sgd", "lr": 0.1}), ("sam", {"name": "sam", "lr": 0.1, "rho": 0.05}))
    }

    tables = {}
    for name, result in results.items():
        partitions = PartitionedDataset(
            path=str(tmp_path / name / "dvclive" / "plots" / "metrics" / "train"),
            dataset={"type": "pandas.CSVDataset", "load_args": {"sep": "\t"}},
            filename_suffix=".tsv",
        ).load()
        tables[name] = dvclive_table(partitions)
        expected = pd.DataFrame(result.updates).drop(columns="epoch").dropna(axis=1, how="all")
        pd.testing.assert_frame_equal(tables[name][expected.columns], expected, check_dtype=False)
    assert "rho" not in tables["sgd"] and tables["sam"]["rho"].eq(0.05).all()

    fig = update_curves(tables)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["training loss", "ρ", "learning rate", "‖ε‖ (perturbation norm)"]
    sam_loss = next(t for t in fig.data if t.name == "sam" and t.xaxis == "x")
    assert list(sam_loss.x) == [2, 4, 6, 8] and list(sam_loss.y) == [u["train_loss"] for u in results["sam"].updates]
    assert [t.name for t in fig.data if t.xaxis == "x2"] == ["sam"]  # ρ: SAM only
    assert is_nothing_yet(update_curves({"sam": None})) and dvclive_table({}) is None
    with pytest.raises(ValueError, match=r"update table of 'sam': missing column\(s\) \['train_loss'\]"):
        update_curves({"sam": pd.DataFrame({"update": [1]})})
