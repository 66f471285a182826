"""PreparedData beyond uint8 images: float feature vectors and streamed sets; models sized from both."""

import pytest
import torch

from samlab.data import PreparedData, prepare_dataset
from samlab.models import create_model
from samlab.train import train
from samlab.train.loop import model_config_for


def test_invalid_kinds_are_refused():
    x = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="need uint8 images .* or float32 features"):
        PreparedData("x", {"train": (x, torch.zeros(4, dtype=torch.long))}, (0.0,) * 3, (1.0,) * 3, ["a"])
    mixed = {
        "train": (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)),
        "test": (torch.zeros(4, 3, 1, 1, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)),
    }
    with pytest.raises(ValueError, match="not a mix"):
        PreparedData("x", mixed, (0.0,) * 3, (1.0,) * 3, ["a"])
    with pytest.raises(ValueError, match="needs extra\\['image_shape'\\]"):
        PreparedData("x", {}, (0.5,), (0.5,), ["a"])


def test_models_size_themselves_from_features_and_tall_dominoes():
    toy = prepare_dataset("toy", n_train=8, n_val=4, n_test=4, easy_dim=3)
    cfg = model_config_for({"name": "samlab_mlp"}, toy)
    assert cfg == {"name": "samlab_mlp", "num_classes": 2, "in_chans": 5, "img_size": 1}
    assert create_model(**cfg)(toy.normalise(toy.splits["test"][0])).shape == (4, 2)
    dom = prepare_dataset("dominoes", image_size=8, in_chans=3, classes=[0, 1])
    x = dom.normalise(dom.splits["test"][0][:3])
    for name in ("samlab_cnn", "samlab_mlp", "samlab_vit_micro"):
        cfg = model_config_for({"name": name}, dom)
        assert cfg["img_size"] == [16, 8]
        assert create_model(**cfg)(x).shape == (3, 2), name


def test_training_on_toy_features_learns_and_on_dominoes_with_augmentation_runs():
    toy = prepare_dataset("toy", n_train=256, n_val=128, n_test=128, turns=1.0, seed=0)
    result = train(
        toy,
        {"name": "samlab_mlp", "hidden": 64},
        {"name": "sgd", "lr": 0.1, "momentum": 0.9},
        {"epochs": 2, "batch_size": 32, "schedule": "cosine", "progress": False},
    )
    assert result.history[-1]["val_accuracy"] > 0.95  # the easy feature alone gives this
    dom = prepare_dataset("dominoes", image_size=8, in_chans=3, classes=[0, 1])
    result = train(
        dom,
        {"name": "samlab_cnn", "width": 8},
        {"name": "sgd", "lr": 0.05},
        {"epochs": 1, "batch_size": 64, "augment": {"crop_padding": 2, "hflip": True}, "progress": False},
    )
    assert len(result.history) == 1 and result.checkpoint["model_config"]["img_size"] == [16, 8]
