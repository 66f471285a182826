"""Resume exactness, fp16 overflow skipping, memory accounting and configuration errors."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from samlab.optim import SAM, GradientStep, create_optimizer
from tests.optim.conftest import grad_ls, linear_model, mse, weights


def bn_mlp():
    return nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def batches(n=4):
    g = torch.Generator().manual_seed(5)
    return [(torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(n)]


@pytest.mark.parametrize(
    ("name", "cfg"),
    [
        ("sam", {"base": "sgd", "momentum": 0.9}),
        ("gsam", {"base": "adamw", "lr": 0.01}),
        ("randsam", {"base": "sgdw", "weight_decay": 0.1}),
        ("asam_obf", {"perturbation_batch_size": 4, "rho_schedule": "lr_prop", "rho_min": 0.01}),
    ],
)
def test_state_dict_round_trip_resumes_exactly(name, cfg):
    cfg = {"lr": 0.1, **cfg}
    torch.manual_seed(0)
    model = bn_mlp()
    opt = create_optimizer(name, model, **cfg)
    data = batches()
    for x, y in data[:2]:
        opt.forward_backward(model, x, y, nn.functional.cross_entropy)
        opt.step()
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    resumed = bn_mlp()
    resumed.load_state_dict(saved["model"])
    opt2 = create_optimizer(name, resumed, **cfg)
    opt2.load_state_dict(saved["opt"])
    for x, y in data[2:]:
        for m, o in ((model, opt), (resumed, opt2)):
            o.forward_backward(m, x, y, nn.functional.cross_entropy)
            o.step()
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert opt2.param_groups is opt2.base_optimizer.param_groups


def test_state_dict_refuses_another_ascent():
    model = bn_mlp()
    state = create_optimizer("obf", model, lr=0.1).state_dict()
    with pytest.raises(ValueError, match="ascent 'obf'"):
        create_optimizer("sam", model, lr=0.1).load_state_dict(state)


class InfOnCall:
    """CE loss that returns inf on the given call numbers (1 = ascent pass, 2 = perturbed pass)."""

    def __init__(self, *bad):
        self.bad, self.calls = set(bad), 0

    def __call__(self, logits, y):
        self.calls += 1
        loss = nn.functional.cross_entropy(logits, y)
        return loss * float("inf") if self.calls in self.bad else loss


@pytest.mark.parametrize(("name", "bad"), [("sam", (1,)), ("sam", (2,)), ("gsam", (1,)), ("gsam", (2,)), ("sgd", (1,))])
def test_fp16_overflow_in_either_pass_skips_the_whole_update(name, bad):
    torch.manual_seed(0)
    model = bn_mlp()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, grad_scaler=scaler)
    before = [p.detach().clone() for p in model.parameters()]
    ((x, y),) = batches(1)
    stats = opt.forward_backward(model, x, y, InfOnCall(*bad))
    assert stats.overflow == (name != "sgd" and bad == (1,))
    opt.step()
    assert opt.last_step_skipped
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert scaler.get_scale() == 512.0  # backed off
    assert not opt.base_optimizer.state  # no momentum buffer was created
    assert all(float(g.abs().sum()) == 0 for g in opt.grads)
    # the next, finite update goes through
    opt.forward_backward(model, x, y, nn.functional.cross_entropy)
    opt.step()
    assert not opt.last_step_skipped
    assert not all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize(
    ("name", "cfg"),
    [
        ("sam", {}),
        ("gsam", {}),
        ("asam", {}),
        ("gsam", {"adaptive": "both", "perturbation_batch_size": 4}),  # s in a persistent copy, 2 chunks
        ("gsam", {"gsam_backup": "normalized"}),
        ("randsam", {"alpha": 0.3}),  # no ascent backward: S is set up before the scaler's first scale
    ],
)
def test_grad_scaler_gives_the_same_step_as_no_scaler(problem, name, cfg):
    X, y, w = problem
    a, b = linear_model(w), linear_model(w)
    create = lambda m, **kw: create_optimizer(name, m, lr=0.1, momentum=0.0, rho=0.3, **cfg, **kw)  # noqa: E731
    oa, ob = create(a), create(b, grad_scaler=torch.amp.GradScaler("cpu", init_scale=2.0**12))
    for _ in range(2):
        for m, o in ((a, oa), (b, ob)):
            o.forward_backward(m, X, y, mse)
            o.step()
    torch.testing.assert_close(weights(b), weights(a), atol=1e-12, rtol=0)
    assert not ob.last_step_skipped


def test_bf16_autocast_runs_both_passes():
    torch.manual_seed(0)
    model = bn_mlp()
    opt = create_optimizer("sam", model, lr=0.1)
    ((x, y),) = batches(1)
    stats = opt.forward_backward(model, x, y, nn.functional.cross_entropy, autocast=torch.bfloat16)
    assert stats.logits.dtype == torch.bfloat16 and stats.perturbed_loss is not None
    opt.step()
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())


def test_extra_memory_is_one_backup_for_sam_and_two_for_gsam():
    model = bn_mlp()
    assert create_optimizer("sgd", model, lr=0.1).extra_buffers() == 0
    assert create_optimizer("sam", model, lr=0.1).extra_buffers() == 1
    assert create_optimizer("gsam", model, lr=0.1).extra_buffers() == 2
    opt = create_optimizer("sam", model, lr=0.1, perturbation_batch_size=4)
    ((x, y),) = batches(1)
    opt.forward_backward(model, x, y, nn.functional.cross_entropy)
    assert opt.extra_buffers() == 2  # + the chunk accumulator, only when m < batch


def test_grads_survive_model_zero_grad_set_to_none(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer("sam", model, lr=0.1, momentum=0.0, rho=0.3)
    model.zero_grad(set_to_none=True)
    opt.forward_backward(model, X, y, mse)
    opt.step()
    g = grad_ls(w, X, y)
    torch.testing.assert_close(weights(model), w - 0.1 * grad_ls(w + 0.3 * g / g.norm(), X, y), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    ("name", "cfg", "message"),
    [
        ("sam", {"rho": -0.1}, "rho must be >= 0"),
        ("sam", {"rho": float("nan")}, "rho must be >= 0"),
        ("obf", {"lam": 1.0}, r"lam \(λ\) must be in \[0, 1\)"),
        ("obf", {"lam": -0.1}, r"lam \(λ\) must be in \[0, 1\)"),
        ("obf", {"gamma": 1.5}, r"gamma must be in \[0, 1\]"),
        ("obf", {"predictions": "tanh"}, "predictions must be"),
        ("sam", {"ascent": "sharpest"}, "unknown ascent direction 'sharpest'"),
        ("sam", {"ascent": "loss", "gamma": 0.5}, "bad options for ascent 'loss'"),
        ("gsam", {"alpha": 1.5}, r"alpha must be in \[0, 1\]"),
        ("gsam", {"alpha": -0.1}, r"alpha must be in \[0, 1\]"),
        ("sam", {"backup_normalized": True}, "set alpha too"),
        ("asam", {"adaptive": "middle"}, "placement must be one of"),
        ("sam", {"eta": 0.01}, "set adaptive"),
        ("sam", {"rho_schedule": "cosine"}, "unknown rho schedule 'cosine'"),
        ("sam", {"rho_schedule": "lr_prop", "rho_min": 0.5, "rho": 0.1}, "rho_min must be <= rho"),
        ("sam", {"rho_schedule": "lr_prop", "lr_min": 0.5}, "lr_max > lr_min"),
        ("sam", {"rho_min": 0.5}, "takes only rho"),
        ("sam", {"perturbation_batch_size": 0}, "perturbation_batch_size must be an integer >= 1"),
        ("lsam", {}, "needs a model with get_classifier"),
        ("sam", {"perturb": ["nothing."]}, "selects no trainable parameter"),
        ("adamw", {"momentum": 0.9}, "unknown option for base optimizer 'adamw'"),
        ("sgd", {"max_grad_norm": 0.0}, "max_grad_norm must be > 0"),
    ],
)
def test_bad_configuration_is_refused_clearly(name, cfg, message):
    with pytest.raises(ValueError, match=message):
        create_optimizer(name, nn.Linear(2, 2), **{"lr": 0.1, **cfg})


def test_lambda_zero_is_allowed_and_accum_steps_checked(problem):
    X, y, w = problem
    opt = create_optimizer("obf", nn.Linear(3, 2).double(), lr=0.1, lam=0.0)
    assert opt.ascent.lam == 0.0
    model = linear_model(w)
    with pytest.raises(ValueError, match="accum_steps must be >= 1"):
        SAM(torch.optim.SGD(model.parameters(), lr=0.1)).forward_backward(model, X, y, mse, accum_steps=0)
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        GradientStep(object())
