"""One SAM step against a step computed by hand (closed-form gradients of a least-squares model).

``problem``, ``mse``, ``grad_ls`` and ``linear_model`` come from ``tests/optim/conftest.py``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samlab.optim import SAM, GradientStep, create_optimizer
from tests.optim.conftest import grad_ls as grad_by_hand
from tests.optim.conftest import linear_model, mse


def test_sam_step_equals_hand_computed_step(problem):
    X, y, w = problem
    rho, lr = 0.3, 0.1
    g = grad_by_hand(w, X, y)
    e = rho * g / g.norm()
    g_adv = grad_by_hand(w + e, X, y)
    expected = w - lr * g_adv

    model = linear_model(w)
    opt = SAM(torch.optim.SGD(model.parameters(), lr=lr), rho=rho)
    stats = opt.forward_backward(model, X, y, mse)
    opt.step()
    torch.testing.assert_close(model.weight.detach().view(-1), expected, atol=1e-6, rtol=0)
    assert stats.perturbation_norm == pytest.approx(rho, rel=1e-9)
    assert stats.loss == pytest.approx(float(((X @ w - y) ** 2).mean()), rel=1e-9)
    assert stats.perturbed_loss == pytest.approx(float(((X @ (w + e) - y) ** 2).mean()), rel=1e-9)


def test_sam_restores_weights_exactly_before_the_base_step(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.5)
    opt.forward_backward(model, X, y, mse)
    assert torch.equal(model.weight.detach().view(-1), w)  # copied back, not subtracted


def test_m_sharpness_with_m1_is_the_mean_of_per_sample_sam_gradients(problem):
    X, y, w = problem
    rho = 0.2
    per_sample = []
    for i in range(X.shape[0]):
        gi = grad_by_hand(w, X[i : i + 1], y[i : i + 1])
        per_sample.append(grad_by_hand(w + rho * gi / gi.norm(), X[i : i + 1], y[i : i + 1]))
    model = linear_model(w)
    opt = SAM(torch.optim.SGD(model.parameters(), lr=1.0), rho=rho, perturbation_batch_size=1)
    opt.forward_backward(model, X, y, mse)
    opt.step()
    torch.testing.assert_close(model.weight.detach().view(-1), w - torch.stack(per_sample).mean(0), atol=1e-9, rtol=0)


def test_plain_step_is_sgd(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer("sgd", model, lr=0.1, momentum=0.0)
    assert isinstance(opt, GradientStep) and not isinstance(opt, SAM)
    opt.forward_backward(model, X, y, mse)
    opt.step()
    torch.testing.assert_close(model.weight.detach().view(-1), w - 0.1 * grad_by_hand(w, X, y), atol=1e-9, rtol=0)


def test_batchnorm_running_stats_after_a_sam_step_equal_one_clean_forward():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    reference = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    reference.load_state_dict(model.state_dict())
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    reference.train()(x)
    opt = create_optimizer("sam", model, lr=0.1, rho=0.5)
    opt.forward_backward(model, x, y, nn.functional.cross_entropy)
    bn, ref_bn = model[1], reference[1]
    torch.testing.assert_close(bn.running_mean, ref_bn.running_mean)
    torch.testing.assert_close(bn.running_var, ref_bn.running_var)
    assert int(bn.num_batches_tracked) == 1
    assert bn.momentum == ref_bn.momentum


@pytest.mark.parametrize(
    ("name", "cfg", "message"),
    [
        ("nope", {"lr": 0.1}, "unknown optimizer 'nope'"),
        ("sam", {"lr": 0.1, "rho": -0.1}, "rho must be >= 0"),
        ("sam", {"lr": 0.0}, "lr must be > 0"),
        ("sgd", {"lr": 0.1, "base": "lion"}, "unknown base optimizer 'lion'"),
    ],
)
def test_bad_configuration_is_refused_clearly(name, cfg, message):
    with pytest.raises(ValueError, match=message):
        create_optimizer(name, nn.Linear(2, 2), **cfg)


def test_perturbation_batch_size_must_divide_the_batch(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=0.1, perturbation_batch_size=3)
    with pytest.raises(ValueError, match="must divide the batch size 8"):
        opt.forward_backward(model, X, y, mse)
