"""Importance/phantom weights, Lorenz/Gini by hand, and the LSAM surrogates' gradients."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import samlab  # noqa: F401
from samlab.analysis.feature_balance import (
    gini,
    importance_weights,
    last_layer_phantom,
    lorenz_curve,
    lorenz_table,
    lr_rescaling_factors,
    lsam_surrogate,
    phantom_importance_weights,
)
from samlab.models import create_model


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
    norm = torch.sqrt((gw ** 2).sum() + (gb ** 2).sum())
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
