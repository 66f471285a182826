"""The DVCLive files the loop writes are what the project's dvc.yaml declares: ``dvc exp show`` lists each
variant's live metrics and ``dvc plots`` finds each variant's per-update curves (a scratch git + DVC copy)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from samlab.data import prepare_digits
from samlab.train import train
from tests.conftest import HANG_TIMEOUT

REPO = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str) -> str:
    cmd = [sys.executable, "-m", "dvc", *args[1:]] if args[0] == "dvc" else list(args)
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.slow
def test_dvc_exp_show_and_plots_list_every_variants_live_metrics(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "conf" / "base", root / "conf" / "base")  # dvc.yaml's stages iterate over its variants
    run(root, "git", "init", "-q")
    run(root, "dvc", "init", "-q")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "project")

    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = data.splits["train"]
    data.splits["train"] = (images[:128], labels[:128])
    cfg = {
        "epochs": 1,
        "batch_size": 32,
        "progress": False,
        "logging": {"every_n_updates": 2, "dir": str(root / "data" / "07_model_output" / "{name}")},
    }
    results = {
        name: train(
            data,
            {"name": "samlab_mlp"},
            {"name": name, "lr": 0.1, **({"rho": 0.05} if name == "sam" else {})},
            cfg,
            name=name,
        )
        for name in ("sgd", "sam")
    }

    shown = json.loads(run(root, "dvc", "exp", "show", "--json"))
    workspace = next(row for row in shown if row["rev"] == "workspace")
    metrics = workspace["data"]["metrics"]
    for name, result in results.items():
        live = metrics[f"data/07_model_output/{name}/dvclive/metrics.json"]["data"]
        assert live["step"] == 4 and live["val"]["accuracy"] == result.history[-1]["val_accuracy"]
        assert live["train"]["loss"] == result.updates[-1]["train_loss"]
    assert "rho" in metrics["data/07_model_output/sam/dvclive/metrics.json"]["data"]["train"]
    assert "rho" not in metrics["data/07_model_output/sgd/dvclive/metrics.json"]["data"]["train"]  # plain SGD has none

    plots = json.loads(run(root, "dvc", "plots", "show", "--json"))
    names = set(plots.get("data", plots))
    for name in ("sgd", "sam"):
        assert f"data/07_model_output/{name}/dvclive/plots/metrics/train/loss.tsv" in names, sorted(names)
