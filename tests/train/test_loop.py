"""The training loop in-process on a tiny digits set: determinism, resume, bad input, NaN, GPU options."""

from __future__ import annotations

import math

import pytest
import torch

from samlab.data import prepare_digits
from samlab.train import CheckpointStore, TrainConfig, train

MLP = {"name": "samlab_mlp"}
SAM = {"name": "sam", "lr": 0.1, "momentum": 0.9, "rho": 0.05}
FAST = {"epochs": 2, "batch_size": 32, "warmup_epochs": 1, "progress": False}


@pytest.fixture(scope="module")
def digits():
    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = data.splits["train"]
    data.splits["train"] = (images[:256], labels[:256])
    return data


def weights(result) -> dict:
    return result.checkpoint["state_dict"]


def maths(history: list[dict]) -> list[dict]:
    """The history without its timings (which differ run to run)."""
    return [
        {k: v for k, v in row.items() if k not in ("epoch_time_s", "step_time_s", "images_per_s")} for row in history
    ]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_result_other_seed_other_result(digits):
    model = {"name": "test_efficientnet", "drop_rate": 0.2}  # BatchNorm and dropout draw on the RNG
    a = train(digits, model, SAM, FAST)
    b = train(digits, model, SAM, FAST)
    c = train(digits, model, SAM, {**FAST, "seed": 1})
    assert same(weights(a), weights(b))
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    assert not same(weights(a), weights(c))


def test_history_has_every_column_per_epoch(digits):
    h = train(digits, MLP, {**SAM, "rho_schedule": "lr_prop", "rho_min": 0.01}, {**FAST, "epochs": 3}).history
    assert [r["epoch"] for r in h] == [1, 2, 3]
    for row in h:
        assert {
            "train_loss",
            "train_accuracy",
            "perturbed_loss",
            "val_loss",
            "val_accuracy",
            "lr",
            "rho",
            "step_time_s",
            "images_per_s",
            "epoch_time_s",
        } <= row.keys()
        assert row["images_per_s"] > 0 and row["step_time_s"] > 0
    # lr_prop: rho follows the cosine LR down (rho of the last epoch < rho of the peak epoch)
    assert h[-1]["lr"] < h[1]["lr"] and 0.01 <= h[-1]["rho"] < h[1]["rho"] <= 0.05 + 1e-9
    assert h[-1]["train_loss"] < h[0]["train_loss"]


def test_accumulation_and_clipping_and_label_smoothing_and_adamw_run(digits):
    h = train(
        digits,
        MLP,
        {"name": "gsam", "base": "adamw", "lr": 1e-3, "weight_decay": 0.05, "max_grad_norm": 1.0},
        {**FAST, "accum_steps": 2, "batch_size": 16, "label_smoothing": 0.1, "schedule": "linear"},
    ).history
    assert len(h) == 2 and all(math.isfinite(r["train_loss"]) for r in h)
    assert h[-1]["train_accuracy"] > 0.2


def test_resume_in_process_continues_exactly(digits, tmp_path):
    cfg = {**FAST, "epochs": 3}
    store = CheckpointStore(tmp_path / "ckpt", keep=2)
    full = train(digits, MLP, SAM, cfg, checkpoints=store)
    assert store.epochs() == [2, 3]  # pruned to the last two, one file per epoch
    assert torch.load(store.file(3), weights_only=True)["epoch"] == 3  # weights_only-safe content
    store.file(3).unlink()
    resumed = train(digits, MLP, SAM, {**cfg, "resume": True}, checkpoints=store)
    assert same(weights(full), weights(resumed)) and maths(resumed.history) == maths(full.history)
    # resuming a finished run trains nothing and returns the same weights
    again = train(digits, MLP, SAM, {**cfg, "resume": True}, checkpoints=store)
    assert same(weights(full), weights(again))
    # resume: false starts over and removes the old checkpoints first
    train(digits, MLP, SAM, {**cfg, "epochs": 1}, checkpoints=store)
    assert store.epochs() == [1]


def test_checkpoint_of_another_model_or_recipe_is_refused_before_training(digits, tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    train(digits, MLP, SAM, {**FAST, "epochs": 1}, checkpoints=store)
    with pytest.raises(ValueError, match="holds a different model"):
        train(digits, {"name": "samlab_cnn"}, SAM, {**FAST, "resume": True}, checkpoints=store)
    with pytest.raises(ValueError, match="different optimizer"):
        train(digits, MLP, {**SAM, "rho": 0.1}, {**FAST, "resume": True}, checkpoints=store)
    with pytest.raises(ValueError, match=r"different training settings \(batch_size: 32 -> 16"):
        train(digits, MLP, SAM, {**FAST, "batch_size": 16, "resume": True}, checkpoints=store)
    assert store.epochs() == [1]  # nothing was overwritten


@pytest.mark.parametrize(
    ("model", "optimizer", "cfg", "message"),
    [
        ({"name": "no_such_net"}, SAM, {}, "unknown model 'no_such_net'"),
        (MLP, {"name": "sharpest"}, {}, "unknown optimizer 'sharpest'"),
        (MLP, {**SAM, "rho": -0.1}, {}, "rho must be >= 0"),
        (MLP, {**SAM, "perturbation_batch_size": 5}, {}, "m=5 must divide the per-rank micro-batch 32"),
        (MLP, SAM, {"epochs": -1}, "epochs must be >= 0"),
        (MLP, SAM, {"amp": "fp8"}, "amp must be one of"),
        (MLP, SAM, {"schedule": "zigzag"}, "unknown schedule 'zigzag'"),
        (MLP, SAM, {"batch_size": 4096}, "train split has 256"),
        (MLP, SAM, {"loss": "hinge"}, "unknown loss 'hinge'"),
    ],
)
def test_bad_input_is_refused_before_any_work(digits, tmp_path, monkeypatch, model, optimizer, cfg, message):
    import samlab.train.loop as loop

    monkeypatch.setattr(loop, "create_model", lambda **_: pytest.fail("built a model before validating"))
    store = CheckpointStore(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=message):
        train(digits, model, optimizer, {**FAST, **cfg}, checkpoints=store)
    assert store.epochs() == []


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(digits, tmp_path, monkeypatch):
    import torch.nn.functional as F

    import samlab.train.loop as loop

    calls = {"n": 0}

    def loss_that_turns_nan(name, label_smoothing):  # fault injection: NaN from the 12th loss (epoch 2 of 8 updates)
        def loss(logits, y):
            calls["n"] += 1
            value = F.cross_entropy(logits, y)
            return value * float("nan") if calls["n"] >= 12 else value

        return loss

    monkeypatch.setattr(loop, "create_loss", loss_that_turns_nan)
    store = CheckpointStore(tmp_path / "ckpt")
    with pytest.raises(
        FloatingPointError,
        match=r"non-finite training loss .* at epoch 2, update 12: training stopped; "
        r"the last good checkpoint \(epoch 1\) is kept",
    ):
        train(digits, MLP, {"name": "sgd", "lr": 0.05}, {**FAST, "epochs": 3}, checkpoints=store)
    assert store.epochs() == [1]
    state = store.latest()
    assert state["epoch"] == 1 and all(
        torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point()
    )


def test_bf16_autocast_and_channels_last_run_on_cpu(digits):
    h = train(
        digits,
        {"name": "samlab_cnn"},
        SAM,
        {**FAST, "epochs": 3, "warmup_epochs": 0, "amp": "bf16", "channels_last": True},
    ).history
    assert all(math.isfinite(r["train_loss"]) for r in h) and h[-1]["train_loss"] < h[0]["train_loss"]


def test_config_refuses_unknown_keys_with_a_did_you_mean():
    from samlab.config import ConfigError

    with pytest.raises(ConfigError, match=r"training\.epoch: unknown setting \(did you mean 'epochs'\?\)"):
        TrainConfig.from_dict({"epoch": 1})


gpu = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (bf16 autocast, channels_last, torch.compile)"
)


@gpu
def test_gpu_options_together(digits):
    h = train(
        digits,
        {"name": "resnet10t"},
        SAM,
        {**FAST, "device": "cuda", "amp": "bf16", "channels_last": True, "compile": True},
    ).history
    assert h[-1]["train_loss"] < h[0]["train_loss"] + 1.0 and math.isfinite(h[-1]["val_loss"])


@gpu
def test_fp16_with_gradient_scaler_on_gpu(digits):
    h = train(digits, {"name": "resnet10t"}, SAM, {**FAST, "device": "cuda", "amp": "fp16"}).history
    assert math.isfinite(h[-1]["train_loss"])


@pytest.mark.parametrize("env", ["vit_s32", "resnet50"])
def test_every_environment_training_block_is_understood(env, caplog):
    import yaml

    from tests.conftest import REPO

    path = REPO / "conf" / env / "parameters_training.yml"
    if not path.exists():
        pytest.skip(f"no {path}")
    cfg = TrainConfig.from_dict(yaml.safe_load(path.read_text())["training"])
    assert cfg.extra == {} and "not used by the loop" not in caplog.text


def test_linear_schedule_warms_up_then_decays_to_min_lr(digits):
    h = train(
        digits,
        MLP,
        {"name": "sgd", "lr": 0.1},
        {**FAST, "epochs": 4, "warmup_epochs": 1, "schedule": "linear", "augment": {"hflip": True}},
    ).history
    lrs = [r["lr"] for r in h]  # the LR of each epoch's last update
    assert lrs[0] == pytest.approx(0.1 * 7 / 8) and lrs[1] > lrs[2] > lrs[3] and lrs[3] < 0.1 / 3 * 0.2
