"""Transfer: targets, fine-tuning with a fresh head (any optimizer by name), linear probes."""

import numpy as np
import pytest
import torch

from samlab.data import PreparedData, prepare_dataset
from samlab.evaluate.corruptions import torch_threads
from samlab.evaluate.probes import cross_validated_probe, linear_probe
from samlab.evaluate.transfer import finetune, make_target, match_inputs, probe, transfer_table
from samlab.models import create_model


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):  # small models on a shared CPU: one thread is the fast setting
        yield


@pytest.fixture(scope="module")
def digits():
    return prepare_dataset("digits", image_size=16, in_chans=1, split={"train": 0.7, "test": 0.3}, seed=0)


@pytest.fixture(scope="module")
def checkpoint():
    cfg = {"name": "samlab_cnn", "num_classes": 10, "in_chans": 1, "img_size": 16}
    torch.manual_seed(0)
    model = create_model(**cfg)
    return {"model_config": cfg, "state_dict": model.state_dict(), "optimizer_config": {"name": "sgd"}}


def test_relabelled_targets(digits):
    target = make_target(digits, "parity")
    assert target.class_names == ["even", "odd"]
    assert torch.equal(target.splits["train"][1], digits.splits["train"][1] % 2)
    assert make_target(digits, "at_least_5").splits["test"][1].float().mean() == pytest.approx(
        (digits.splits["test"][1] >= 5).float().mean().item()
    )
    with pytest.raises(ValueError, match="unknown transfer target"):
        make_target(digits, "imagenet_21k")


def test_finetune_with_a_fresh_head_beats_chance_with_sgd_and_with_sam(digits, checkpoint):
    target = make_target(digits, "parity")
    x, y = target.splits["train"]
    target = PreparedData(
        target.name,
        {"train": (x[:400], y[:400]), "test": target.splits["test"]},
        target.mean,
        target.std,
        target.class_names,
    )
    before = {k: v.clone() for k, v in checkpoint["state_dict"].items()}
    rows = transfer_table(
        checkpoint,
        target,
        {
            "sgd": {
                "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                "epochs": 3,
                "batch_size": 32,
                "device": "cpu",
            },
            "sam": {
                "optimizer": {"name": "sam", "lr": 0.05, "momentum": 0.9, "rho": 0.05},
                "epochs": 3,
                "batch_size": 32,
                "device": "cpu",
            },
        },
        {"C": 1.0, "max_iter": 500, "device": "cpu"},
        source_name="random_cnn",
    )
    assert [r["method"] for r in rows] == ["finetune_sgd", "finetune_sam", "linear_probe"]
    for row in rows:
        assert row["accuracy"] > 0.75, row  # chance is ~0.5
        assert row["model"] == "random_cnn" and row["target"] == "digits-parity"
    assert all(torch.equal(v, checkpoint["state_dict"][k]) for k, v in before.items())  # the source is untouched
    with pytest.raises(ValueError, match="optimizer"):
        finetune(checkpoint, target, {"epochs": 1})


def test_probe_and_cross_validated_probe_on_separable_features():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.normal(size=(200, 5)) + 3 * y[:, None]
    assert linear_probe(x[:100], y[:100], x[100:], y[100:]) > 0.95
    assert cross_validated_probe(x, y, folds=2) > 0.95
    assert cross_validated_probe(rng.normal(size=(200, 5)), y, folds=2) < 0.7  # no signal, no accuracy


def test_match_inputs_repeats_grey_and_resizes():
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    out = match_inputs(x, {"in_chans": 3, "img_size": 16})
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.uint8
    with pytest.raises(ValueError, match="channels"):
        match_inputs(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), {"in_chans": 1})


def test_probe_reports_accuracy(digits, checkpoint):
    result = probe(checkpoint, make_target(digits, "at_least_5"), max_iter=300, device="cpu")
    assert result["accuracy"] > 0.7 and result["n"] == digits.splits["test"][0].shape[0]


def test_recipes_run_only_from_their_source_and_a_file_can_be_the_source(digits, checkpoint, tmp_path):
    target = make_target(digits, "parity")
    x, y = target.splits["train"]
    target = PreparedData(
        target.name,
        {"train": (x[:64], y[:64]), "test": target.splits["test"]},
        target.mean,
        target.std,
        target.class_names,
    )
    recipe = {"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "epochs": 1, "batch_size": 32, "device": "cpu"}
    recipes = {"from_sam": {**recipe, "source": "sam"}, "from_any": recipe}
    assert [r["method"] for r in transfer_table(checkpoint, target, recipes, None, "vanilla")] == ["finetune_from_any"]
    assert len(transfer_table(checkpoint, target, recipes, None, "sam")) == 2
    path = tmp_path / "model.pt"
    torch.save(checkpoint, path)
    from_file = finetune("ignored", target, {**recipe, "checkpoint": str(path)})
    from_dict = finetune(checkpoint, target, recipe)
    assert from_file["accuracy"] == from_dict["accuracy"] and from_file["train_loss"] == from_dict["train_loss"]
    with pytest.raises(FileNotFoundError, match="not found"):
        finetune(checkpoint, target, {**recipe, "checkpoint": str(tmp_path / "absent.pt")})


def test_a_target_of_another_size_must_be_shown_at_the_model_size(digits, checkpoint):
    small = prepare_dataset("digits", image_size=8, in_chans=1, split={"train": 0.7, "test": 0.3}, seed=0)
    recipe = {"optimizer": {"name": "sgd", "lr": 0.05}, "epochs": 1, "batch_size": 32, "device": "cpu"}
    with pytest.raises(ValueError, match="input: {size: 16"):
        finetune(checkpoint, small, recipe)
    shown = make_target(
        small,
        "digits",
        image_size=8,
        in_chans=1,
        split={"train": 0.7, "test": 0.3},
        seed=0,
        input={"size": 16, "crop_pct": 1.0, "train_scale": [0.5, 1.0]},
    )
    assert shown.image_shape == (1, 16, 16)
    assert 0 <= finetune(checkpoint, shown, recipe)["accuracy"] <= 1
