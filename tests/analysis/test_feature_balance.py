"""Importance/phantom weights, Lorenz/Gini by hand, and the LSAM surrogates' gradients."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import samlab  # noqa: F401
from samlab.analysis.feature_balance import (
    BalanceRecorder,
    feature_rescaling_factors,
    gini,
    importance_weights,
    last_layer_phantom,
    lorenz_curve,
    lorenz_table,
    lr_rescaling_factors,
    lr_rescaling_table,
    lsam_surrogate,
    phantom_importance_weights,
)
from samlab.models import create_model
from samlab.optim import StepStats


def test_lorenz_and_gini_by_hand():
    x, y = lorenz_curve([4, 1, 3, 2])
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(y, [0, 0.1, 0.3, 0.6, 1.0])
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25)  # area 0.375
    assert gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    assert gini([0, 0, 0]) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        gini([1, -1])
    table = lorenz_table(np.array([1, 1, 1, 1.0]), np.array([0, 0, 0, 1.0]), points=5)
    assert list(table.columns) == ["weights", "fraction", "cumulative_share"]
    np.testing.assert_allclose(table[table.weights == "phantom"].cumulative_share, [0, 0, 0, 0, 1])


def test_importance_weights_binary_is_sigmoid_of_minus_margin():
    f = torch.tensor([2.0, -1.0, 0.0])
    logits = torch.stack([torch.zeros(3), f], 1)
    lam = importance_weights(logits, torch.tensor([1, 1, 0]))
    torch.testing.assert_close(lam, torch.sigmoid(torch.tensor([-2.0, 1.0, 0.0])).double())


def test_phantom_weights_match_hand_computed_logistic_step():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 3, generator=g), torch.randint(0, 2, (20,), generator=g)
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    rho = 0.5
    # ∇ of mean CE: W: (P − Y)ᵀX/N, b: mean(P − Y)
    p = model(x).softmax(1).detach()
    r = p - F.one_hot(y, 2)
    gw, gb = r.T @ x / 20, r.mean(0)
    norm = torch.sqrt((gw**2).sum() + (gb**2).sum())
    w_t, b_t = model.weight.detach() + rho * gw / norm, model.bias.detach() + rho * gb / norm
    expected = 1 - (x @ w_t.T + b_t).softmax(1).gather(1, y.view(-1, 1)).squeeze(1)
    before = model.weight.detach().clone()
    out = phantom_importance_weights(model, F.cross_entropy, x, y, rho, chunk_size=7)
    torch.testing.assert_close(out["phantom"], expected.double(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["real"], (1 - p.gather(1, y.view(-1, 1)).squeeze(1)).double())
    assert torch.equal(model.weight, before)
    # CE is convex in a linear model's parameters: the ascent step raises the loss −log(1 − λ)
    assert (-torch.log1p(-out["phantom"])).mean() > (-torch.log1p(-out["real"])).mean()
    zero = phantom_importance_weights(model, F.cross_entropy, x, y, 0.0)
    torch.testing.assert_close(zero["phantom"], zero["real"])


def _mlp():
    torch.manual_seed(0)
    return create_model("samlab_mlp", num_classes=3, in_chans=1, img_size=2, hidden=8, depth=1)


def _grads(model, loss):
    return [g.clone() for g in torch.autograd.grad(loss, list(model.parameters()))]


def test_lsam_full_is_ce_gradient_at_the_last_layer_phantom():
    model = _mlp()
    x, y = torch.randn(12, 1, 2, 2), torch.randint(0, 3, (12,))
    v_tilde = last_layer_phantom(model, F.cross_entropy, x, y, rho=0.3)
    ref = copy.deepcopy(model)
    with torch.no_grad():
        ref.head.weight.copy_(v_tilde[0])
        ref.head.bias.copy_(v_tilde[1])
    expected = _grads(ref, F.cross_entropy(ref(x), y))
    got = _grads(model, lsam_surrogate(model, x, y, rho=0.3, mode="full"))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    factors = lr_rescaling_factors(model.head.weight.detach(), v_tilde[0])
    torch.testing.assert_close(factors, (v_tilde[0] / model.head.weight.detach()).double())


def test_lsam_ablations():
    model = _mlp()
    x, y = torch.randn(12, 1, 2, 2), torch.randint(0, 3, (12,))
    real = _grads(model, F.cross_entropy(model(x), y))
    for mode in ("full", "importance", "lr_scaling"):  # ρ = 0: all three are the plain gradient
        for a, b in zip(_grads(model, lsam_surrogate(model, x, y, 0.0, mode)), real):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    imp = _grads(model, lsam_surrogate(model, x, y, 0.5, "importance"))
    lrs = _grads(model, lsam_surrogate(model, x, y, 0.5, "lr_scaling"))
    v_tilde = last_layer_phantom(model, F.cross_entropy, x, y, rho=0.5)
    phi = model.forward_head(model.forward_features(x), pre_logits=True).detach()
    p_tilde = (phi @ v_tilde[0].T + v_tilde[1]).softmax(1)
    # importance only: head gradient (P̃ − Y)ᵀφ/N; LR scaling only: head gradient unchanged (∂z̃/∂ṽ = φ)
    torch.testing.assert_close(imp[-2], (p_tilde - F.one_hot(y, 3)).T @ phi / 12, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(lrs[-2], real[-2], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(lrs[0], real[0])  # the feature layer sees ṽ instead of v
    with pytest.raises(ValueError, match="mode"):
        lsam_surrogate(model, x, y, 0.5, "nope")


@pytest.mark.parametrize("mode", ["importance", "lr_scaling"])
def test_lsam_effect_optimizers_step_with_the_surrogate_gradient(mode):
    from samlab.optim import create_optimizer

    model = _mlp()
    x, y = torch.randn(12, 1, 2, 2), torch.randint(0, 3, (12,))
    expected = _grads(model, lsam_surrogate(model, x, y, 0.3, mode))
    opt = create_optimizer(f"lsam_{mode}", model, lr=0.1, momentum=0.0, rho=0.3)
    stats = opt.forward_backward(model, x, y, F.cross_entropy, return_outputs=True)
    for p, g in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)
    assert stats.perturbed_loss > stats.loss and stats.perturbed_logits.shape == (12, 3)
    before = [p.detach().clone() for p in model.parameters()]
    opt.step()
    for p, b, g in zip(model.parameters(), before, expected):
        torch.testing.assert_close(p.detach(), b - 0.1 * g, rtol=1e-5, atol=1e-6)  # plain SGD step on it


def test_feature_rescaling_factors_are_column_norm_ratios():
    v = torch.tensor([[3.0, 1.0, 0.0], [4.0, -1.0, 0.0]])
    v_tilde = torch.tensor([[6.0, 1.0, 1.0], [8.0, 1.0, 2.0]])
    factors = feature_rescaling_factors(v, v_tilde)
    torch.testing.assert_close(factors[:2], torch.tensor([10.0 / 5.0, 1.0], dtype=torch.float64))
    assert torch.isnan(factors[2])  # a dead feature (v_{:,j} = 0) has no factor
    # a single-logit head: |ṽ_j / v_j|, paper 2's factor
    torch.testing.assert_close(
        feature_rescaling_factors(torch.tensor([2.0, -4.0]), torch.tensor([3.0, -2.0])),
        torch.tensor([1.5, 0.5], dtype=torch.float64),
    )
    table = lr_rescaling_table(v, v_tilde)
    assert list(table.columns) == ["feature", "factor", "v_norm", "v_tilde_norm"] and list(table.feature) == [0, 1, 2]
    np.testing.assert_allclose(table.v_norm, [5.0, np.sqrt(2), 0.0])
    np.testing.assert_allclose(table.v_tilde_norm, [10.0, np.sqrt(2), np.sqrt(5)])
    with pytest.raises(ValueError, match="shape"):
        feature_rescaling_factors(v, v_tilde[:, :2])


def test_balance_recorder_measures_real_and_phantom_weights_of_recorded_steps():
    logits = torch.tensor([[0.0, 0.0], [0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])  # λ = 0.5, 0.5, 1 − σ(2), 1 − σ(2)
    perturbed = torch.zeros(4, 2)  # λ̃ = 0.5 each: perfectly even
    y = torch.tensor([0, 1, 0, 1])
    rec = BalanceRecorder(every=2)
    rec(1, StepStats(loss=0.0, logits=logits, perturbed_logits=perturbed, targets=y))  # not a recorded step
    rec(2, StepStats(loss=0.0, logits=logits, perturbed_logits=perturbed, targets=y))
    rec(4, StepStats(loss=0.0, logits=logits, targets=y))  # SGD: no perturbation
    table = rec.table()
    assert list(table.step) == [2, 4] and list(table.columns)[0] == "step"
    small = 1 - torch.sigmoid(torch.tensor(2.0)).item()
    expected = [0.5, 0.5, small, small]
    assert table.importance_mean[0] == pytest.approx(np.mean(expected))
    assert table.gini_real[0] == pytest.approx(gini(expected)) and table.gini_real[0] > 0.1
    assert table.gini_phantom[0] == pytest.approx(0.0) and table.phantom_importance_mean[0] == pytest.approx(0.5)
    assert np.isnan(table.gini_phantom[1])
    summary = rec.summary()
    assert summary["trajectory_gini_real"] == pytest.approx(gini(expected))
    assert summary["trajectory_gini_phantom"] == pytest.approx(0.0)  # NaN rows (no perturbation) are skipped
    assert np.isnan(BalanceRecorder().summary()["trajectory_gini_phantom"])
    with pytest.raises(ValueError, match="targets"):
        rec(6, StepStats(loss=0.0, logits=logits))
    with pytest.raises(ValueError, match="every"):
        BalanceRecorder(every=0)
