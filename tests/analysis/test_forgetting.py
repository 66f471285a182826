"""Our forgetting estimators on fixed distributions, and the recorder as a training-loop hook."""

import math

import pytest
import torch

import samlab  # noqa: F401
from samlab.analysis.forgetting import ForgettingRecorder, input_exposed_information, kl_divergence, step_forgetting
from samlab.optim import StepStats


def logits_of(probs):
    return torch.tensor(probs, dtype=torch.float64).log()


def test_kl_on_fixed_distributions():
    p, q = logits_of([[0.5, 0.5]]), logits_of([[0.9, 0.1]])
    assert kl_divergence(p, q) == pytest.approx(0.5 * math.log(25 / 9))
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    both = kl_divergence(torch.cat([p, p]), torch.cat([q, p]))  # mean over samples
    assert both == pytest.approx(0.25 * math.log(25 / 9))
    with pytest.raises(ValueError):
        kl_divergence(p, logits_of([[0.2, 0.3, 0.5]]))


def test_input_exposed_information_on_fixed_distributions():
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert input_exposed_information(logits_of([[0.9, 0.1], [0.1, 0.9]])) == pytest.approx(math.log(2) - h)
    assert input_exposed_information(logits_of([[0.7, 0.3], [0.7, 0.3]])) == pytest.approx(0.0, abs=1e-12)
    eye = torch.eye(4, dtype=torch.float64) * 60.0  # near one-hot, all classes: log 4
    assert input_exposed_information(eye) == pytest.approx(math.log(4), rel=1e-6)


def test_step_forgetting_and_recorder():
    clean, pert = logits_of([[0.9, 0.1], [0.1, 0.9]]), logits_of([[0.6, 0.4], [0.4, 0.6]])
    stats = StepStats(
        loss=0.2, logits=clean, perturbed_loss=0.5, perturbation_norm=0.05, rho=0.05, perturbed_logits=pert
    )
    row = step_forgetting(stats)
    assert row["loss_increase"] == pytest.approx(0.3)
    assert row["output_kl"] == pytest.approx(kl_divergence(clean, pert))
    assert row["info_drop"] == pytest.approx(input_exposed_information(clean) - input_exposed_information(pert))
    assert row["info_drop"] > 0
    rec = ForgettingRecorder(every=2)
    for step in range(1, 7):
        rec(step, stats)
    rec(8, StepStats(loss=0.3, logits=clean))  # an SGD step: nothing perturbed
    table = rec.table()
    assert list(table["step"]) == [2, 4, 6, 8] and table["output_kl"].isna().sum() == 1
    summary = rec.summary()
    assert summary["forgetting_loss_increase"] == pytest.approx(0.3)  # NaN of the SGD step left out
    assert summary["forgetting_steps"] == 4
    assert math.isnan(ForgettingRecorder().summary()["forgetting_output_kl"])
    with pytest.raises(ValueError):
        ForgettingRecorder(every=0)


def test_recorder_as_training_loop_hook():
    from samlab.data import prepare_dataset
    from samlab.train import train

    data = prepare_dataset("toy", n_train=64, n_val=16, n_test=16, seed=0)
    rec = ForgettingRecorder(every=2)
    train(
        data,
        {"name": "samlab_mlp", "hidden": 16, "depth": 1},
        {"name": "sam", "lr": 0.05, "rho": 0.5},
        {"epochs": 2, "batch_size": 16, "device": "cpu", "progress": False},
        on_step=rec,
    )
    table = rec.table()
    assert list(table["step"]) == [2, 4, 6, 8]  # 4 updates an epoch, every second one
    assert (table["output_kl"] > 0).all() and (table["rho"] == 0.5).all()
    assert (table["perturbation_norm"] - 0.5).abs().max() < 1e-4  # ‖e‖ = ρ
    assert (table["loss_increase"] > 0).all()  # the SAM ascent step raises the loss at this ρ
