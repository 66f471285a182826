"""CIFAR-MNIST runs in the feature study when its raw files are present (the same code path as the dominoes
stand-in), and is skipped — not failed — when they are missing."""

import pandas as pd
import yaml

from samlab.study import data_available, feature_population, run_member
from tests.conftest import REPO
from tests.data.fakes import write_cifar10, write_mnist


def test_cifar_mnist_member_runs_from_raw_files_and_is_skipped_without(tmp_path):
    fs = yaml.safe_load((REPO / "conf" / "base" / "parameters_study.yml").read_text())["feature_study"]["cifar_mnist"]
    assert fs.pop("optional") is True and fs["model"] == {"name": "samlab_cnn", "width": 32}
    assert fs["data"]["cifar_classes"] == [1, 9] and fs["data"]["mnist_classes"] == [0, 1]  # automobile/truck, 0/1
    fs["data"].update(raw_dir=str(tmp_path), md5=None, verify_checksum=False, val_fraction=0.25)
    assert not data_available(fs["data"])
    write_cifar10(tmp_path, per_batch=20, test=40)
    write_mnist(tmp_path, train=60, test=30)
    assert data_available(fs["data"])
    fs["training"].update(epochs=1, batch_size=8, device="cpu")
    fs["measure"] = {"subset": {"size": 16}}
    fs["seeds"] = [0]
    fs["optimizers"] = {"lsam": {"name": "lsam", "rhos": [0.5]}}
    member = next(m for m in feature_population("cifar_mnist", fs) if m.perturbation == "lsam")
    result = run_member(member)
    row = result.row
    assert row["group"] == "cifar_mnist" and row["rho"] == 0.5 and 0 <= row["test_accuracy"] <= 1
    assert 0 <= row["probe_hard_pre_logits_accuracy"] <= 1 and 0 <= row["gini_phantom"] <= 1
    probes = result.tables["probes"]
    assert set(probes["feature"]) == {"easy", "hard"} and isinstance(result.tables["lorenz"], pd.DataFrame)
