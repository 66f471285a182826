"""The perturbation by pointer swap (``optim/perturb.py``): w + e is written once and swapped into the
parameters, w is kept aside and swapped back — the parameters keep their own storage and values, the
perturbed pass sees exactly w + e, and nothing is left behind when the pass fails."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from torch import nn

from samlab.optim import create_optimizer
from samlab.optim.perturb import random_direction
from tests.optim.conftest import grad_ls, linear_model, mse

VARIANTS = {
    "sam": ("sam", {}),
    "obf": ("obf", {}),
    "randsam": ("randsam", {}),
    "asam_before": ("asam", {}),
    "asam_both": ("asam", {"adaptive": "both"}),
    "gsam": ("gsam", {}),
    "gsam_normalized": ("gsam", {"gsam_backup": "normalized"}),
    "gsam_asam_both": ("gsam", {"adaptive": "both"}),
    "lsam": ("lsam", {"perturb": ["2."]}),
    "m_sharpness": ("gsam", {"perturbation_batch_size": 4}),
}


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Linear(7, 3)).double()


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g)


@pytest.mark.parametrize("case", list(VARIANTS))
def test_parameters_keep_their_storage_and_w_plus_e_is_its_own_tensor(case):
    """Every parameter keeps its storage across steps; during the perturbed pass it holds w + e in a tensor of
    its own (never aliasing any parameter's w), and once w is back nothing keeps w + e's memory alive."""
    name, cfg = VARIANTS[case]
    model = net()
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, **cfg)
    x, y = batch()
    ptrs = [p.data_ptr() for p in model.parameters()]
    seen, alive = [], []

    def hook(o, *_):
        seen.append([p.data_ptr() for p in o.pparams])
        alive.extend(weakref.ref(p.data.untyped_storage()) for p in o.pparams)

    opt.register_perturbation_hook(hook)
    for _ in range(3):
        opt.forward_backward(model, x, y, nn.functional.cross_entropy)
        opt.step()
        assert [p.data_ptr() for p in model.parameters()] == ptrs
        assert opt.backup is None and opt.buffers.gsam is None and opt.buffers.accum is None
        gc.collect()
        assert alive and not any(ref() is not None for ref in alive)  # w + e freed, not kept between steps
    assert seen and all(len(s) == len(opt.pparams) and not set(s) & set(ptrs) for s in seen)


def test_the_perturbed_pass_sees_exactly_w_plus_e(problem):
    """Least squares, SAM: inside the hook the parameter holds w + ρ·g/‖g‖ (g by hand) in a tensor of its
    own, and ``backup`` is w in the parameter's original storage."""
    X, y, w = problem
    rho = 0.3
    model = linear_model(w)
    opt = create_optimizer("sam", model, lr=0.1, momentum=0.0, rho=rho)
    ptr = model.weight.data_ptr()
    g = grad_ls(w, X, y)
    seen = {}

    def hook(o, m, *_):
        seen["w_tilde"] = m.weight.detach().view(-1).clone()
        seen["backup"] = o.backup[0].view(-1).clone()
        seen["aliases"] = m.weight.data_ptr() == ptr or o.backup[0].data_ptr() != ptr
        seen["e"] = o.perturbation()[0].view(-1).clone()

    opt.register_perturbation_hook(hook)
    opt.forward_backward(model, X, y, mse)
    torch.testing.assert_close(seen["w_tilde"], w + rho * g / g.norm(), atol=1e-12, rtol=0)
    torch.testing.assert_close(seen["e"], rho * g / g.norm(), atol=1e-12, rtol=0)
    assert torch.equal(seen["backup"], w) and not seen["aliases"]
    assert model.weight.data_ptr() == ptr and torch.equal(model.weight.detach().view(-1), w)


@pytest.mark.parametrize("case", ["sam", "gsam", "asam_before", "m_sharpness"])
def test_a_failing_perturbed_pass_leaves_w_in_place(case):
    """An error (or Ctrl-C) in the perturbed pass swaps w back before it propagates: the parameters hold
    their exact values in their own storage, and the next update is the one a fresh optimizer takes."""
    name, cfg = VARIANTS[case]
    x, y = batch()
    model, twin = net(), net()
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, **cfg)
    before = [p.detach().clone() for p in model.parameters()]
    ptrs = [p.data_ptr() for p in model.parameters()]
    calls = {"n": 0}

    def failing(out, target):
        calls["n"] += 1
        if calls["n"] == 2:  # the first perturbed pass
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(out, target)

    with pytest.raises(KeyboardInterrupt):
        opt.forward_backward(model, x, y, failing)
    assert [p.data_ptr() for p in model.parameters()] == ptrs
    assert all(torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before))
    assert opt.backup is None and opt.buffers.gsam is None
    fresh = create_optimizer(name, twin, lr=0.1, momentum=0.9, **cfg)
    for o, m in ((opt, model), (fresh, twin)):
        o.forward_backward(m, x, y, nn.functional.cross_entropy)
        o.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, atol=1e-14, rtol=0)


def test_w_plus_e_follows_the_model_to_another_dtype():
    """w + e must be swapped in with the parameters' own dtype: after ``model.float()`` the perturbed pass
    runs on float32 tensors, not on float64 ones left over from the first steps."""
    model = net()
    opt = create_optimizer("sam", model, lr=0.1, momentum=0.0)
    x, y = batch()
    dtypes = []
    opt.register_perturbation_hook(lambda o, m, *_: dtypes.append({p.dtype for p in m.parameters()}))
    opt.forward_backward(model, x, y, nn.functional.cross_entropy)
    opt.step()
    model.float()
    opt.forward_backward(model, x.float(), y, nn.functional.cross_entropy)
    opt.step()
    assert dtypes == [{torch.float64}, {torch.float32}]
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_compiled_model_is_not_recompiled_by_the_swap():
    """torch.compile guards on the parameters' metadata, not their storage: the swapped-in w + e reuses the
    two graphs (clean pass, and the pass with BatchNorm's running statistics frozen) at every step, and the
    compiled model takes the eager model's steps exactly (aot_eager: the graphs without a C++ toolchain)."""
    import torch._dynamo as dynamo

    x, y = batch()
    model, twin = net(), net()
    dynamo.reset()
    dynamo.utils.counters.clear()
    compiled = torch.compile(model, backend="aot_eager")
    for name in ("sam", "gsam"):
        opt = create_optimizer(name, model, lr=0.1, momentum=0.9)
        eager = create_optimizer(name, twin, lr=0.1, momentum=0.9)
        for _ in range(3):
            opt.forward_backward(compiled, x, y, nn.functional.cross_entropy)
            opt.step()
            eager.forward_backward(twin, x, y, nn.functional.cross_entropy)
            eager.step()
    assert dynamo.utils.counters["stats"]["unique_graphs"] == 2
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, atol=1e-12, rtol=0)
    dynamo.reset()


@pytest.mark.parametrize("case", list(VARIANTS))
def test_w_plus_e_goes_over_the_ascent_gradient_unless_gsam_keeps_it(case, monkeypatch):
    """SAM, OBF, ASAM, LSAM: w + e is written into the ascent gradient's own tensors (RandSAM: the drawn
    direction's), nothing allocated. GSAM keeps that gradient as its s, so w + e gets tensors of its own —
    except with ASAM and a raw backup, where s is a copy and the gradient's tensors are free again."""
    import samlab.optim.sam as sam_module

    name, cfg = VARIANTS[case]
    drawn = []

    def recorded_direction(params, ascent):
        views = random_direction(params, ascent)
        drawn.extend(v.data_ptr() for v in views)
        return views

    monkeypatch.setattr(sam_module, "random_direction", recorded_direction)
    model = net()
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, **cfg)
    x, y = batch()
    ascent, during = [], []
    passes = {"n": 0}

    def count(*_):
        passes["n"] += 1

    def record(grad):
        if passes["n"] % 2 == 1:  # the ascent pass of a chunk
            ascent.append(grad.data_ptr())

    model.register_forward_pre_hook(count)
    for p in model.parameters():
        p.register_hook(record)
    opt.register_perturbation_hook(lambda o, *_: during.extend(p.data_ptr() for p in o.pparams))
    opt.forward_backward(model, x, y, nn.functional.cross_entropy)
    inside = [ptr in ascent for ptr in during]
    if name == "randsam":  # no ascent backward: w + e goes over the drawn direction
        assert not ascent and during and all(ptr in drawn for ptr in during)
    elif name == "gsam" and case != "gsam_asam_both":
        assert during and not any(inside)
    else:
        assert during and all(inside)


@pytest.mark.parametrize("placement", ["before", "after", "both"])
@pytest.mark.parametrize("eta", [0.0, 0.01])
@pytest.mark.parametrize("gsam", [None, "raw", "gradient", "normalized"])
def test_asam_in_cpu_blocks_takes_the_steps_of_whole_tensors(monkeypatch, placement, eta, gsam):
    """ASAM's chain runs in CPU blocks (``_ops.blocks``). Blocks of 3 elements cut every tensor of the
    model and group its small ones; the steps, ‖e‖ and the final weights equal those with one block per
    list (the foreach path a GPU takes) to rounding."""
    from samlab.optim import _ops

    x, y = batch()
    cfg = {"adaptive": placement, "eta": eta}
    if gsam is not None:
        cfg["gsam_backup"] = gsam
    results = []
    for size in (3, 1 << 30):
        monkeypatch.setattr(_ops, "SLICE_PER_THREAD", size)
        model = net()
        opt = create_optimizer("gsam" if gsam else "asam", model, lr=0.1, momentum=0.9, **cfg)
        norms = []
        for _ in range(3):
            norms.append(opt.forward_backward(model, x, y, nn.functional.cross_entropy).perturbation_norm)
            opt.step()
        results.append((norms, [p.detach().clone() for p in model.parameters()]))
    (norms, params), (whole_norms, whole_params) = results
    assert norms == pytest.approx(whole_norms, rel=1e-13)
    for p, q in zip(params, whole_params):
        torch.testing.assert_close(p, q, atol=1e-14, rtol=0)
    assert not torch.equal(params[0], net()[0].weight.detach())  # the steps moved the weights
