"""Live metrics: DVCLive files with the expected keys and steps (continuing across a resume), the same scalars
in TensorBoard event files and an offline W&B run; bad logging blocks and missing packages fail before any
work; statistics are read from the device only every N updates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from samlab.data import prepare_digits
from samlab.train import CheckpointStore, TrainConfig, train

MLP = {"name": "samlab_mlp"}
SAM = {"name": "sam", "lr": 0.1, "momentum": 0.9, "rho": 0.05}
FAST = {"epochs": 2, "batch_size": 32, "warmup_epochs": 1, "progress": False}  # 8 updates per epoch
PER_UPDATE = {"loss", "perturbed_loss", "rho", "lr", "perturbation_norm", "images_per_s"}


@pytest.fixture(scope="module")
def digits():
    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = data.splits["train"]
    data.splits["train"] = (images[:256], labels[:256])
    return data


def tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def logging(tmp_path: Path, **kw) -> dict:
    return {"every_n_updates": 3, "dir": str(tmp_path / "out" / "{name}"), **kw}


def test_dvclive_writes_every_metric_at_update_steps_and_a_resume_appends(digits, tmp_path):
    cfg = {**FAST, "logging": logging(tmp_path), "checkpoint_every_n_updates": 4}
    full = train(digits, MLP, SAM, cfg, name="sam")
    live = tmp_path / "out" / "sam" / "dvclive"
    plots = live / "plots" / "metrics"
    assert {p.stem for p in (plots / "train").glob("*.tsv")} == PER_UPDATE | {"accuracy"}
    assert {p.stem for p in (plots / "val").glob("*.tsv")} == {"loss", "accuracy"}
    rows = tsv(plots / "train" / "loss.tsv")
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 12, 15]  # every 3 updates, numbered by update
    assert [float(r["loss"]) for r in rows] == [u["train_loss"] for u in full.updates]
    assert [int(r["step"]) for r in tsv(plots / "val" / "accuracy.tsv")] == [8, 16]  # at each epoch's last update
    assert [float(r["accuracy"]) for r in tsv(plots / "val" / "accuracy.tsv")] == [
        h["val_accuracy"] for h in full.history
    ]
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 16 and summary["epoch"] == 2 and set(summary["train"]) == PER_UPDATE | {"accuracy"}
    assert summary["val"]["accuracy"] == full.history[-1]["val_accuracy"]
    assert not (live / "dvc.yaml").exists()  # the project's dvc.yaml declares these files

    # a crash at update 11 (logged up to 9, checkpointed at 8): the resumed run drops step 9 and logs it again
    store = CheckpointStore(tmp_path / "ckpt")

    def crash(update, stats):
        if update == 11:
            raise RuntimeError("preempted")

    with pytest.raises(RuntimeError, match="preempted"):
        train(digits, MLP, SAM, cfg, name="sam", checkpoints=store, on_step=crash)
    assert [int(r["step"]) for r in tsv(plots / "train" / "loss.tsv")] == [3, 6, 9]
    resumed = train(digits, MLP, SAM, {**cfg, "resume": True}, name="sam", checkpoints=store)
    rows = tsv(plots / "train" / "loss.tsv")
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 12, 15]
    assert [float(r["loss"]) for r in rows] == [u["train_loss"] for u in full.updates]
    assert [u["update"] for u in resumed.updates] == [3, 6, 9, 12, 15]
    assert [int(r["step"]) for r in tsv(plots / "val" / "accuracy.tsv")] == [8, 16]
    # a fresh run (resume: false) starts fresh curves
    train(digits, MLP, SAM, {**cfg, "epochs": 1}, name="sam", checkpoints=store)
    assert [int(r["step"]) for r in tsv(plots / "train" / "loss.tsv")] == [3, 6]


def test_tensorboard_event_files_hold_the_same_scalars(digits, tmp_path):
    pytest.importorskip(
        "tensorboard", reason="the tensorboard extra is not installed (pip install 'samlab[tensorboard]')"
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(
        digits, MLP, SAM, {**FAST, "logging": logging(tmp_path, backend=["dvclive", "tensorboard"])}, name="sam"
    )
    events = EventAccumulator(str(tmp_path / "out" / "sam" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert tags == {f"train/{k}" for k in PER_UPDATE | {"accuracy"}} | {"val/loss", "val/accuracy", "epoch"}
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == [3, 6, 9, 12, 15]
    assert [e.value for e in loss] == pytest.approx([u["train_loss"] for u in result.updates], rel=1e-6)  # float32
    live = tsv(tmp_path / "out" / "sam" / "dvclive" / "plots" / "metrics" / "train" / "lr.tsv")
    assert [e.value for e in events.Scalars("train/lr")] == pytest.approx([float(r["lr"]) for r in live], rel=1e-6)


def test_wandb_offline_writes_a_run_directory(digits, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra is not installed (pip install 'samlab[wandb]')")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = {**FAST, "epochs": 1, "logging": logging(tmp_path, backend="wandb", wandb={"project": "samlab-test"})}
    train(digits, MLP, SAM, cfg, name="sam")
    runs = list((tmp_path / "out" / "sam" / "wandb").glob("wandb/offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), runs


@pytest.mark.parametrize(
    ("logging_block", "message"),
    [
        ({"backend": "tensorbord"}, r"unknown backend 'tensorbord' \(did you mean 'tensorboard'\?\)"),
        ({"every_n_update": 5}, r"logging: unknown key 'every_n_update' \(did you mean 'every_n_updates'\?\)"),
        ({"every_n_updates": 0}, "every_n_updates must be an integer >= 1"),
        ({"wandb": {"mode": "live"}}, r"logging.wandb.mode must be one of \['offline', 'online', 'disabled'\]"),
    ],
)
def test_bad_logging_block_is_refused_before_any_work(logging_block, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict({**FAST, "logging": logging_block})


def test_missing_optional_package_names_the_extra_before_any_work(digits, tmp_path, monkeypatch):
    import importlib.util

    from samlab.train import loop

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    monkeypatch.setattr(loop, "create_model", lambda **_: pytest.fail("built a model before checking the packages"))
    with pytest.raises(
        ModuleNotFoundError,
        match=r"logging backend 'wandb' needs the 'wandb' package: "
        r"pip install 'samlab\[wandb\]'",
    ):
        train(digits, MLP, SAM, {**FAST, "logging": logging(tmp_path, backend=["dvclive", "wandb"])})
    assert not (tmp_path / "out").exists()


def test_tensor_statistics_are_read_only_every_n_updates(digits, tmp_path, monkeypatch):
    """StepStats hold 0-dim device tensors (samlab.optim reads nothing): the loop transfers them once per logging
    interval and epoch end, not per update, and computes what a run that reads them every update computes."""
    from samlab.train import meters

    # reference: an on_step callback receives a copy of every StepStats, which reads (converts) each field per update
    floats = train(
        digits,
        MLP,
        SAM,
        {**FAST, "logging": {**logging(tmp_path), "backend": "none", "every_n_updates": 4}},
        on_step=lambda update, stats: None,
    )

    reads = []
    real_read = meters.read_values
    monkeypatch.setattr(
        meters,
        "read_values",
        lambda values: reads.append(sum(isinstance(v, torch.Tensor) for v in values)) or real_read(values),
    )
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("a per-update .item()"))
    lazy = train(digits, MLP, SAM, {**FAST, "logging": {**logging(tmp_path), "backend": "none", "every_n_updates": 4}})
    transfers = [n for n in reads if n]
    # 16 updates: 4 intervals (losses checked + sums read) and 2 epoch ends (sums read)
    assert len(transfers) == 4 * 2 + 2, reads
    assert lazy.updates == [
        {**u, "images_per_s": lazy.updates[i]["images_per_s"]} for i, u in enumerate(floats.updates)
    ]
    timing = ("epoch_time_s", "step_time_s", "images_per_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in lazy.history] == [
        {k: v for k, v in r.items() if k not in timing} for r in floats.history
    ]
