"""GSAM's backup choice with ASAM, shrink-and-perturb, timm's SGDW, the wrapper as an Optimizer, lazy StepStats:
each against a hand computation or an observable behaviour."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch
from torch import nn

from samlab.optim import (
    SAM,
    SGDW,
    GSAMCorrection,
    StepStats,
    create_optimizer,
)
from tests.optim.conftest import grad_ls, linear_model, mse, weights


def gsam_asam_gradient(w, X, y, rho, alpha, placement, backup):
    g, a = grad_ls(w, X, y), w.abs()
    d = {"before": a * g, "after": g, "both": a * g}[placement]  # the gradient as the norm sees it
    e = rho * {"before": d / d.norm(), "after": a * g / g.norm(), "both": a * d / d.norm()}[placement]
    s = {"raw": d, "gradient": g, "normalized": e / rho}[backup]
    ga = grad_ls(w + e, X, y)
    n = ga / ga.norm()
    return ga - alpha * (s - (s @ n) * n)


def gsam_asam_expected(w, X, y, rho, alpha, lr, placement, backup):
    return w - lr * gsam_asam_gradient(w, X, y, rho, alpha, placement, backup)


def gsam_asam(model, rho, alpha, lr, placement, backup, m=None):
    return SAM(
        torch.optim.SGD(model.parameters(), lr=lr),
        rho=rho,
        perturbation_batch_size=m,
        adaptive=placement,
        gsam=GSAMCorrection(alpha, backup=backup),
    )


@pytest.mark.parametrize("placement", ["before", "after", "both"])
@pytest.mark.parametrize("backup", ["raw", "gradient", "normalized"])
def test_gsam_backup_with_asam_equals_hand_computed_step(problem, placement, backup):
    X, y, w = problem
    rho, alpha, lr = 0.5, 0.3, 0.1
    model = linear_model(w)
    opt = gsam_asam(model, rho, alpha, lr, placement, backup)
    opt.forward_backward(model, X, y, mse)
    opt.step()
    torch.testing.assert_close(
        weights(model), gsam_asam_expected(w, X, y, rho, alpha, lr, placement, backup), atol=1e-12, rtol=0
    )
    assert opt.extra_buffers() == 2


@pytest.mark.parametrize(("placement", "backup"), [("before", "raw"), ("both", "raw"), ("after", "gradient")])
def test_gsam_with_asam_over_chunks_micro_batches_and_updates_equals_hand_computed(problem, placement, backup):
    # both/raw and after/gradient keep s in a persistent copy, the final gradient is written into it and the
    # perturbed gradient's tensors take its place for the next chunk; before/raw keeps autograd's own tensors.
    # 3 updates of 2 micro-batches of 2 chunks (m = 2)
    X, y, w = problem
    rho, alpha, lr = 0.5, 0.3, 0.1
    model = linear_model(w)
    opt = gsam_asam(model, rho, alpha, lr, placement, backup, m=2)
    expected = w.clone()
    for _ in range(3):
        for micro in (slice(0, 4), slice(4, 8)):
            opt.forward_backward(model, X[micro], y[micro], mse, accum_steps=2)
        opt.step()
        parts = [slice(i, i + 2) for i in range(0, 8, 2)]
        grad = sum(gsam_asam_gradient(expected, X[c], y[c], rho, alpha, placement, backup) for c in parts) / 4
        expected = expected - lr * grad
        torch.testing.assert_close(weights(model), expected, atol=1e-12, rtol=0)


def test_gsam_raw_backup_is_the_default_and_differs_from_gradient_with_asam(problem):
    X, y, w = problem
    a, b = linear_model(w), linear_model(w)
    for model, cfg in ((a, {}), (b, {"gsam_backup": "gradient"})):
        opt = create_optimizer("gsam", model, lr=0.1, momentum=0.0, rho=0.5, adaptive="before", **cfg)
        assert opt.gsam.backup == cfg.get("gsam_backup", "raw")
        opt.forward_backward(model, X, y, mse)
        opt.step()
    torch.testing.assert_close(
        weights(a), gsam_asam_expected(w, X, y, 0.5, 0.4, 0.1, "before", "raw"), atol=1e-12, rtol=0
    )
    assert not torch.allclose(weights(a), weights(b))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"alpha": 0.3, "gsam_backup": "scaled"}, "GSAM backup must be one of"),
        ({"alpha": 0.3, "gsam_backup": "raw", "backup_normalized": True}, "contradicts"),
        ({"gsam_backup": "raw"}, "set alpha too"),
        ({"shrink_perturb": 1.5}, r"shrink_perturb must be in \[0, 1\]"),
    ],
)
def test_bad_gsam_and_shrink_perturb_options_are_refused(cfg, message):
    with pytest.raises(ValueError, match=message):
        create_optimizer("sam", nn.Linear(2, 2), lr=0.1, **cfg)


@pytest.mark.parametrize("name", ["sgd", "sam"])
def test_shrink_perturb_pulls_toward_the_initial_weights_scaled_by_lr(problem, name):
    """Official train.py: before every update, f = factor·lr/lr₀ and w ← f·w₀ + (1 − f)·w."""
    X, y, w0 = problem
    factor, lr0, rho = 0.1, 0.2, 0.3
    model = linear_model(w0)
    extra = {"rho": rho} if name == "sam" else {}
    opt = create_optimizer(name, model, lr=lr0, momentum=0.0, shrink_perturb=factor, **extra)

    def grad(v):
        if name == "sgd":
            return grad_ls(v, X, y)
        g = grad_ls(v, X, y)
        return grad_ls(v + rho * g / g.norm(), X, y)

    w = w0.clone()
    for lr in (lr0, 0.05, 0.05):
        for group in opt.param_groups:  # what an LR scheduler does between updates
            group["lr"] = lr
        for half in (slice(0, 4), slice(4, 8)):  # two micro-batches: the pull happens once per update
            opt.forward_backward(model, X[half], y[half], mse, accum_steps=2)
        opt.step()
        f = factor * lr / lr0
        w = f * w0 + (1 - f) * w
        w = w - lr * 0.5 * (grad_half(grad, w, X, y) if name == "sam" else grad(w) * 2)
        torch.testing.assert_close(weights(model), w, atol=1e-12, rtol=0)
    assert opt.extra_buffers() == (1 if name == "sgd" else 3)  # + w₀ (+ backup, + accumulator)
    # w₀ and lr₀ travel with the state_dict
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    other = create_optimizer(name, linear_model(weights(model)), lr=0.7, momentum=0.0, shrink_perturb=factor, **extra)
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert other._lr0 == lr0 and torch.equal(other._init[0].view(-1), w0)


def grad_half(grad, w, X, y):
    """SAM's m-sharpness over two micro-batches of 4: the sum of the two half-batch SAM gradients."""
    out = torch.zeros_like(w)
    for half in (slice(0, 4), slice(4, 8)):
        g = grad_ls(w, X[half], y[half])
        out += grad_ls(w + 0.3 * g / g.norm(), X[half], y[half])
    return out


def test_timm_sgdw_is_the_official_decoupled_form():
    """w ← w·(1 − lr·wd), then buf ← μ·buf + g (buf₀ = g), w ← w − lr·buf; no decay on biases."""
    model = nn.Linear(2, 1).double()
    opt = create_optimizer("sgdw", model, lr=0.1, momentum=0.9, weight_decay=0.01)
    assert isinstance(opt.base_optimizer, SGDW)
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays == {id(model.weight): 0.01, id(model.bias): 0.0}


def test_the_wrapper_is_a_torch_optimizer_with_working_hooks(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer("sam", model, lr=0.1, rho=0.1)
    assert isinstance(opt, torch.optim.Optimizer) and opt.param_groups is opt.base_optimizer.param_groups
    seen = []
    opt.register_step_pre_hook(lambda o, args, kwargs: seen.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append("post"))
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.forward_backward(model, X, y, mse)
    opt.step()
    assert seen == ["pre", "post"]
    scheduler.step()
    assert opt.base_optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


@pytest.mark.parametrize("name", ["sgd", "sam"])
def test_forward_backward_refuses_unknown_keyword_arguments(problem, name):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer(name, model, lr=0.1)
    with pytest.raises(TypeError, match="return_logits"):
        opt.forward_backward(model, X, y, mse, return_logits=True)


def test_step_stats_convert_lazily_and_survive_dataclasses_replace():
    loss, ploss = torch.tensor(0.25, dtype=torch.float64), torch.tensor(0.5)
    stats = StepStats(loss=loss, logits=torch.zeros(2, 3), perturbed_loss=ploss, rho=0.05)
    assert stats.raw("loss") is loss and stats.tensor("perturbed_loss") is ploss
    assert stats.tensor("rho").item() == pytest.approx(0.05) and stats.raw("perturbation_norm") is None
    assert stats.loss == 0.25 and isinstance(stats.loss, float)
    copy = dataclasses.replace(stats, targets=torch.tensor([1, 2]))
    assert copy.perturbed_loss == 0.5 and copy.targets.tolist() == [1, 2] and copy.overflow is False
    assert StepStats(loss=1.0, logits=None).as_floats()["loss"] == 1.0
    with pytest.raises(TypeError):
        StepStats(logits=None)  # loss is required


def test_batchnorm_stays_clean_when_the_fp16_ascent_pass_overflows():
    """A non-finite ascent gradient turns w + e into NaN for the perturbed pass; the running statistics
    must not see it (the update is skipped) and the weights come back exactly."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    opt = create_optimizer("sam", model, lr=0.1, rho=0.5, grad_scaler=torch.amp.GradScaler("cpu", init_scale=4.0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    calls = [0]

    def loss_fn(z, t):
        calls[0] += 1
        loss = nn.functional.cross_entropy(z, t)
        return loss * float("inf") if calls[0] == 1 else loss

    stats = opt.forward_backward(model, x, y, loss_fn)
    opt.step()
    assert stats.overflow and opt.last_step_skipped and stats.perturbation_norm == 0.0
    after = model.state_dict()
    for key in ("0.weight", "3.bias"):
        assert torch.equal(after[key], before[key])
    assert torch.isfinite(after["1.running_mean"]).all() and torch.isfinite(after["1.running_var"]).all()
    assert int(after["1.num_batches_tracked"]) == 1


@pytest.mark.parametrize("placement", ["before", "after", "both"])
def test_asam_with_eta_zero_equals_hand_computed_step(problem, placement):
    """η = 0: ``both`` takes the no-|w| path (w⊙w⊙g, ‖w⊙g‖); negative weights make the signs matter."""
    X, y, w = problem
    assert (w < 0).any()
    rho, lr = 0.4, 0.1
    g, a = grad_ls(w, X, y), w.abs()
    e = {
        "before": rho * a * g / (a * g).norm(),
        "after": rho * a * g / g.norm(),
        "both": rho * a * a * g / (a * g).norm(),
    }[placement]
    model = linear_model(w)
    opt = SAM(torch.optim.SGD(model.parameters(), lr=lr), rho=rho, adaptive=placement)
    stats = opt.forward_backward(model, X, y, mse)
    assert torch.equal(weights(model), w)  # restored exactly
    opt.step()
    torch.testing.assert_close(weights(model), w - lr * grad_ls(w + e, X, y), atol=1e-12, rtol=0)
    assert stats.perturbation_norm == pytest.approx(float(e.norm()), rel=1e-9)


@pytest.mark.parametrize("name", ["sgd", "sam"])
def test_shrink_perturb_factor_one_resets_parameters_and_batchnorm_statistics(name):
    """f = 1 at lr = lr₀ puts parameters and floating buffers back to their initial values before every
    update (the official code pulls the whole state_dict), so two updates equal one."""
    torch.manual_seed(0)
    make = lambda: nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))  # noqa: E731
    a, b = make(), make()
    b.load_state_dict(a.state_dict())
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    for model, updates in ((a, 2), (b, 1)):
        opt = create_optimizer(name, model, lr=0.1, momentum=0.0, shrink_perturb=1.0)
        for _ in range(updates):
            opt.forward_backward(model, x, y, nn.functional.cross_entropy)
            opt.step()
    for (key, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        if va.is_floating_point():
            torch.testing.assert_close(va, vb, atol=1e-7, rtol=0, msg=key)
