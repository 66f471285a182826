"""ASAM, GSAM, OBF, RandSAM, LSAM, m-sharpness, accumulation and schedules against hand-computed steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from samlab.optim import SAM, GSAMCorrection, AdaptiveScaling, create_optimizer
from samlab.optim.ascent import OBFAscent
from tests.optim.conftest import ce_grads, grad_ls, linear_model, mse, softmax_linear, weights


def sam_step(model, X, y, lr=0.1, loss=mse, **kw):
    opt = SAM(torch.optim.SGD(model.parameters(), lr=lr), **kw)
    stats = opt.forward_backward(model, X, y, loss)
    opt.step()
    return opt, stats


@pytest.mark.parametrize("placement", ["before", "after", "both"])
def test_asam_placements_equal_hand_computed_steps(problem, placement):
    X, y, w = problem
    rho, lr, eta = 0.4, 0.1, 0.01
    g, a = grad_ls(w, X, y), w.abs() + eta
    e = {
        "before": rho * a * g / (a * g).norm(),
        "after": rho * a * g / g.norm(),
        "both": rho * a * a * g / (a * g).norm(),
    }[placement]
    model = linear_model(w)
    _, stats = sam_step(model, X, y, lr=lr, rho=rho, adaptive=AdaptiveScaling(placement, eta))
    torch.testing.assert_close(weights(model), w - lr * grad_ls(w + e, X, y), atol=1e-12, rtol=0)
    assert stats.perturbation_norm == pytest.approx(float(e.norm()), rel=1e-9)


def test_asam_restores_weights_exactly(problem):
    X, y, w = problem
    model = linear_model(w).float()
    opt = SAM(torch.optim.SGD(model.parameters(), lr=0.1), rho=2.0, adaptive="both")
    opt.forward_backward(model, X.float(), y.float(), mse)
    assert torch.equal(model.weight.detach().view(-1), w.float())


def gsam_expected(w, X, y, rho, alpha, normalized, lr):
    g = grad_ls(w, X, y)
    e = rho * g / g.norm()
    ga = grad_ls(w + e, X, y)
    gb = g / g.norm() if normalized else g
    n = ga / ga.norm()
    return w - lr * (ga - alpha * (gb - (gb @ n) * n))


@pytest.mark.parametrize("normalized", [False, True])
def test_gsam_equals_hand_computed_step(problem, normalized):
    X, y, w = problem
    rho, alpha, lr = 0.5, 0.3, 0.1
    model = linear_model(w)
    opt, _ = sam_step(model, X, y, lr=lr, rho=rho, gsam=GSAMCorrection(alpha, normalized))
    torch.testing.assert_close(weights(model), gsam_expected(w, X, y, rho, alpha, normalized, lr), atol=1e-12, rtol=0)
    assert opt.extra_buffers() == 2  # backup of w + saved ascent gradient


def test_gsam_alpha_zero_is_sam(problem):
    X, y, w = problem
    a, b = linear_model(w), linear_model(w)
    sam_step(a, X, y, rho=0.5)
    sam_step(b, X, y, rho=0.5, gsam=GSAMCorrection(0.0))
    assert torch.equal(weights(a), weights(b))


def test_gsam_normalised_backup_with_asam_after_norm_is_the_scaled_direction(problem):
    X, y, w = problem
    rho, alpha, lr = 0.5, 0.3, 0.1
    g, a = grad_ls(w, X, y), w.abs()
    u = a * g / g.norm()
    ga = grad_ls(w + rho * u, X, y)
    n = ga / ga.norm()
    expected = w - lr * (ga - alpha * (u - (u @ n) * n))
    model = linear_model(w)
    sam_step(model, X, y, lr=lr, rho=rho, adaptive="after", gsam=GSAMCorrection(alpha, True))
    torch.testing.assert_close(weights(model), expected, atol=1e-12, rtol=0)


def test_obf_gamma_one_equals_hand_computed_step(classification):
    X, y, W, b = classification
    rho, lr, C = 0.3, 0.1, 4
    lam = 1.0 / C
    z = X @ W.T + b
    p = torch.sigmoid(z)
    onehot = nn.functional.one_hot(y, C).double()
    p_y = (p * onehot).sum(1, keepdim=True)
    alpha = torch.clamp((1 - lam / p_y) / (1 - lam), min=0.0)
    t = alpha * p + (1 - alpha) * onehot
    dz = (1.0 / C - t) / X.shape[0]  # dS/dz
    gW, gb = dz.T @ X, dz.sum(0)
    norm = torch.sqrt((gW**2).sum() + (gb**2).sum())
    eW, eb = rho * gW / norm, rho * gb / norm
    aW, ab = ce_grads(W + eW, b + eb, X, y)
    model = softmax_linear(W, b)
    _, stats = sam_step(model, X, y, lr=lr, loss=nn.functional.cross_entropy, rho=rho, ascent=OBFAscent(gamma=1.0))
    torch.testing.assert_close(model.weight.detach(), W - lr * aW, atol=1e-12, rtol=0)
    torch.testing.assert_close(model.bias.detach(), b - lr * ab, atol=1e-12, rtol=0)
    assert stats.ascent_loss == pytest.approx(float(((1.0 / C - t) * z).sum(1).mean()), rel=1e-9)
    assert not torch.allclose(alpha, torch.zeros_like(alpha))  # the test exercises α > 0


def test_obf_gamma_to_zero_is_the_closed_form(classification):
    X, y, W, b = classification
    rho, lr, C = 0.3, 0.1, 4
    z = X @ W.T + b
    closed_form = float((z.mean(1) - z.gather(1, y[:, None]).squeeze(1)).mean())
    dz = (1.0 / C - nn.functional.one_hot(y, C).double()) / X.shape[0]  # p-independent
    gW, gb = dz.T @ X, dz.sum(0)
    norm = torch.sqrt((gW**2).sum() + (gb**2).sum())
    aW, ab = ce_grads(W + rho * gW / norm, b + rho * gb / norm, X, y)
    for predictions in ("sigmoid", "softmax"):
        model = softmax_linear(W, b)
        _, stats = sam_step(
            model,
            X,
            y,
            lr=lr,
            loss=nn.functional.cross_entropy,
            rho=rho,
            ascent=OBFAscent(gamma=1e-12, predictions=predictions),
        )
        assert stats.ascent_loss == pytest.approx(closed_form, rel=1e-9)
        torch.testing.assert_close(model.weight.detach(), W - lr * aW, atol=1e-10, rtol=0)
        torch.testing.assert_close(model.bias.detach(), b - lr * ab, atol=1e-10, rtol=0)


def test_obf_lambda_zero_gives_alpha_gamma_and_softmax_option(classification):
    X, y, W, b = classification
    z = X @ W.T + b
    onehot = nn.functional.one_hot(y, 4).double()
    t = OBFAscent(gamma=0.5, lam=0.0, predictions="softmax").targets(z, y)
    torch.testing.assert_close(t, 0.5 * torch.softmax(z, 1) + 0.5 * onehot)


def test_randsam_perturbation_has_norm_rho_and_no_ascent_backward(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer("randsam", model, lr=0.1, momentum=0.0, rho=0.7, seed=3)
    seen = []
    opt.register_perturbation_hook(
        lambda o, m, x, t: seen.append(torch.cat([e.detach().view(-1) for e in o.perturbation()]))
    )
    stats = opt.forward_backward(model, X, y, mse, return_perturbation=True)
    e = seen[0]
    assert float(e.detach().norm()) == pytest.approx(0.7, rel=1e-9)
    assert stats.perturbation_norm == pytest.approx(0.7, rel=1e-9) and stats.ascent_loss is None
    torch.testing.assert_close(stats.perturbations[0][0].view(-1), e)
    opt.step()
    torch.testing.assert_close(weights(model), w - 0.1 * grad_ls(w + e, X, y), atol=1e-12, rtol=0)
    # a different seed, a different direction
    got = []
    model2 = linear_model(w)
    other = create_optimizer("randsam", model2, lr=0.1, rho=0.7, seed=4)
    other.register_perturbation_hook(lambda o, m, x, t: got.append(o.perturbation()[0].view(-1).clone()))
    other.forward_backward(model2, X, y, mse)
    assert not torch.allclose(got[0], e)


def test_m_equal_to_batch_is_plain_sam(problem):
    X, y, w = problem
    a, b = linear_model(w), linear_model(w)
    sam_step(a, X, y, rho=0.3)
    opt, _ = sam_step(b, X, y, rho=0.3, perturbation_batch_size=8)
    assert torch.equal(weights(a), weights(b))
    assert opt.extra_buffers() == 1  # just the backup of w


def chunk_sam_grad(w, X, y, rho):
    g = grad_ls(w, X, y)
    return grad_ls(w + rho * g / g.norm(), X, y)


def test_accumulation_two_micro_batches_of_4_equal_one_batch_of_8_with_m_4(problem):
    X, y, w = problem
    rho, lr = 0.3, 0.1
    expected = w - lr * 0.5 * (chunk_sam_grad(w, X[:4], y[:4], rho) + chunk_sam_grad(w, X[4:], y[4:], rho))
    one = linear_model(w)
    sam_step(one, X, y, lr=lr, rho=rho, perturbation_batch_size=4)
    two = linear_model(w)
    opt = SAM(torch.optim.SGD(two.parameters(), lr=lr), rho=rho, perturbation_batch_size=4)
    opt.forward_backward(two, X[:4], y[:4], mse, accum_steps=2)
    opt.forward_backward(two, X[4:], y[4:], mse, accum_steps=2)
    opt.step()
    torch.testing.assert_close(weights(one), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(weights(two), weights(one), atol=1e-14, rtol=0)
    # the accumulator is clean for the next update: a second update matches a fresh computation
    w1 = weights(two)
    opt.forward_backward(two, X, y, mse, accum_steps=1)
    opt.step()
    exp2 = w1 - lr * 0.5 * (chunk_sam_grad(w1, X[:4], y[:4], rho) + chunk_sam_grad(w1, X[4:], y[4:], rho))
    torch.testing.assert_close(weights(two), exp2, atol=1e-12, rtol=0)


def test_plain_accumulation_and_clipping_once(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer("sgd", model, lr=0.1, momentum=0.0, max_grad_norm=0.5)
    opt.forward_backward(model, X[:4], y[:4], mse, accum_steps=2)
    opt.forward_backward(model, X[4:], y[4:], mse, accum_steps=2)
    opt.step()
    g = 0.5 * (grad_ls(w, X[:4], y[:4]) + grad_ls(w, X[4:], y[4:]))
    g = g * min(1.0, 0.5 / float(g.norm() + 1e-6))
    torch.testing.assert_close(weights(model), w - 0.1 * g, atol=1e-12, rtol=0)


def test_lsam_perturbs_only_the_last_layer_and_updates_all():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 1, bias=False)).double()
    X, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    theta, v = model[0].weight.detach().clone(), model[2].weight.detach().clone()
    rho, lr = 0.5, 0.1

    def loss_of(th, vv):
        return (((torch.tanh(X @ th.T) @ vv.T).squeeze(1) - y) ** 2).mean()

    th_, v_ = theta.clone().requires_grad_(), v.clone().requires_grad_()
    (gv,) = torch.autograd.grad(loss_of(th_, v_), v_)
    v_tilde = (v + rho * gv / gv.norm()).requires_grad_()
    th_ = theta.clone().requires_grad_()
    g_th, g_v = torch.autograd.grad(loss_of(th_, v_tilde), (th_, v_tilde))
    opt = create_optimizer("lsam", model, lr=lr, momentum=0.0, rho=rho, perturb=["2."])
    stats = opt.forward_backward(model, X, y, mse)
    opt.step()
    assert stats.perturbation_norm == pytest.approx(rho, rel=1e-9)
    torch.testing.assert_close(model[0].weight.detach(), theta - lr * g_th, atol=1e-12, rtol=0)
    torch.testing.assert_close(model[2].weight.detach(), v - lr * g_v, atol=1e-12, rtol=0)


def test_lsam_ascent_backward_skips_the_backbone_and_matches_a_full_backward():
    """The ascent gradient is taken for the perturbed subset alone (the backbone's gradient is computed
    once per chunk, in the perturbed pass), and the step is bit-identical to the full-backward one."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).float()
    ref = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).float()
    ref.load_state_dict(model.state_dict())
    X, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    rho, lr, ce = 0.5, 0.1, nn.functional.cross_entropy
    calls = {"backbone": 0, "head": 0}
    for name, mod in (("backbone", model[0]), ("head", model[2])):
        for p in mod.parameters():
            p.register_hook(lambda g, name=name: calls.__setitem__(name, calls[name] + 1))
    opt = create_optimizer("lsam", model, lr=lr, momentum=0.0, rho=rho, perturb=["2."], perturbation_batch_size=4)
    opt.forward_backward(model, X, y, ce)
    opt.step()
    assert calls == {"backbone": 2 * 2, "head": 2 * 2 * 2}  # 2 chunks × 2 params × (1 or 2 passes)
    # the previous behaviour: full backward of the ascent loss, the head's part of it as the direction
    head = list(ref[2].parameters())
    total = [torch.zeros_like(p) for p in ref.parameters()]
    for xb, yb in zip(X.split(4), y.split(4)):
        ref.zero_grad()
        ce(ref(xb), yb).backward()
        g = [p.grad.clone() for p in head]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in g]))
        saved = [p.detach().clone() for p in head]
        with torch.no_grad():
            torch._foreach_add_(head, g, alpha=rho * (1.0 / (float(norm) + 1e-12)))
        ref.zero_grad()
        ce(ref(xb), yb).backward()
        with torch.no_grad():
            torch._foreach_copy_(head, saved)
            torch._foreach_add_(total, [p.grad for p in ref.parameters()], alpha=0.5)
    with torch.no_grad():
        torch._foreach_add_(list(ref.parameters()), total, alpha=-lr)
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, atol=1e-7, rtol=1e-6)


def test_lsam_classifier_resolves_the_timm_head():
    import samlab  # noqa: F401
    from samlab.models import create_model

    model = create_model("samlab_mlp", num_classes=3, in_chans=1, img_size=8)
    opt = create_optimizer("lsam", model, lr=0.1)
    head = {id(p) for p in model.get_classifier().parameters()}
    assert {id(p) for p in opt.pparams} == head and len(opt.params) > len(head)


def test_lr_prop_rho_follows_the_current_learning_rate(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer("sam", model, lr=1.0, momentum=0.0, rho=0.6, rho_schedule="lr_prop", rho_min=0.1, lr_min=0.0)
    assert opt.rho == pytest.approx(0.6)
    for group in opt.param_groups:
        group["lr"] = 0.5
    assert opt.forward_backward(model, X, y, mse).rho == pytest.approx(0.35)
    for group in opt.param_groups:
        group["lr"] = 0.0
    assert opt.rho == pytest.approx(0.1)


def test_sgdw_decays_decoupled_then_momentum():
    model = nn.Linear(2, 1).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0]]))
        model.bias.fill_(0.5)
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    opt = create_optimizer("sgdw", model, lr=0.1, momentum=0.9, weight_decay=0.01)
    w, b = model.weight.detach().clone(), model.bias.detach().clone()
    bufs = [None, None]
    for _ in range(2):
        out = model(x)
        gw, gb = 2 * (out.detach() - 1.0) * x, 2 * (out.detach() - 1.0).view(1)
        opt.forward_backward(model, x, torch.ones(1, dtype=torch.float64), mse)
        opt.step()
        bufs = [gw if bufs[0] is None else 0.9 * bufs[0] + gw, gb if bufs[1] is None else 0.9 * bufs[1] + gb]
        w = w * (1 - 0.1 * 0.01) - 0.1 * bufs[0]
        b = b - 0.1 * bufs[1]  # no decay on biases
        torch.testing.assert_close(model.weight.detach(), w, atol=1e-12, rtol=0)
        torch.testing.assert_close(model.bias.detach(), b, atol=1e-12, rtol=0)


def test_hooks_and_outputs_at_w_and_w_plus_e(problem):
    X, y, w = problem
    model = linear_model(w)
    opt = create_optimizer("sam", model, lr=0.1, rho=0.3)
    at_w_tilde = []
    opt.register_perturbation_hook(lambda o, m, x, t: at_w_tilde.append(weights(m)))
    stats = opt.forward_backward(model, X, y, mse, return_outputs=True, return_perturbation=True)
    g = grad_ls(w, X, y)
    e = 0.3 * g / g.norm()
    torch.testing.assert_close(at_w_tilde[0], w + e, atol=1e-12, rtol=0)
    torch.testing.assert_close(stats.logits.view(-1), X @ w, atol=1e-12, rtol=0)
    torch.testing.assert_close(stats.perturbed_logits.view(-1), X @ (w + e), atol=1e-12, rtol=0)
    torch.testing.assert_close(stats.perturbations[0][0].view(-1), e, atol=1e-12, rtol=0)
    assert stats.ascent_loss == pytest.approx(stats.loss)
    assert stats.perturbed_loss - stats.loss == pytest.approx(
        float(((X @ (w + e) - y) ** 2).mean() - ((X @ w - y) ** 2).mean()), rel=1e-9
    )


def test_batchnorm_stats_with_m_chunks_equal_one_clean_forward_per_chunk():
    torch.manual_seed(0)
    make = lambda: nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))  # noqa: E731
    model, reference = make(), make()
    reference.load_state_dict(model.state_dict())
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    reference.train()
    reference(x[:8])
    reference(x[8:])
    for name in ("obf", "randsam", "gsam"):
        m = make()
        m.load_state_dict(model.state_dict())
        opt = create_optimizer(name, m, lr=0.1, rho=0.5, perturbation_batch_size=8)
        opt.forward_backward(m, x, y, nn.functional.cross_entropy)
        torch.testing.assert_close(m[1].running_mean, reference[1].running_mean)
        torch.testing.assert_close(m[1].running_var, reference[1].running_var)
        assert int(m[1].num_batches_tracked) == 2


@pytest.mark.parametrize(
    "name", ["sam", "gsam", "asam", "obf", "gsam_obf", "asam_obf", "randsam", "lsam", "sgdw", "adamw"]
)
def test_every_variant_trains_a_small_classifier(name):
    import samlab  # noqa: F401
    from samlab.models import create_model

    torch.manual_seed(0)
    model = create_model("samlab_mlp", num_classes=3, in_chans=1, img_size=4)
    x = torch.randn(48, 1, 4, 4)
    y = (x.flatten(1)[:, :3]).argmax(1)
    cfg = {"lr": 0.01} if name == "adamw" else {"lr": 0.2}
    opt = create_optimizer(name, model, **cfg)
    first = None
    for _ in range(60):
        stats = opt.forward_backward(model, x, y, nn.functional.cross_entropy)
        first = stats.loss if first is None else first
        opt.step()
    with torch.no_grad():
        final = float(nn.functional.cross_entropy(model(x), y))
    assert math.isfinite(final) and final < 0.5 * first, (name, first, final)


@pytest.mark.parametrize("prefix", ["0.", "2."])
def test_lsam_with_gsam_corrects_only_the_perturbed_subset(prefix):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh(), nn.Linear(4, 1, bias=False)).double()
    X, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    params = [model[0].weight.detach().clone(), model[2].weight.detach().clone()]
    k = 0 if prefix == "0." else 1
    rho, lr, alpha = 0.5, 0.1, 0.4

    def grads_at(ps):
        ps = [p.clone().requires_grad_() for p in ps]
        loss = (((torch.tanh(X @ ps[0].T) @ ps[1].T).squeeze(1) - y) ** 2).mean()
        return torch.autograd.grad(loss, ps)

    g = grads_at(params)[k]
    shifted = list(params)
    shifted[k] = params[k] + rho * g / g.norm()
    adv = list(grads_at(shifted))
    n = adv[k] / adv[k].norm()
    adv[k] = adv[k] - alpha * (g - (g * n).sum() * n)
    opt = create_optimizer("lsam", model, lr=lr, momentum=0.0, rho=rho, perturb=[prefix], alpha=alpha)
    assert opt.extra_buffers() == 2 and len(opt.pparams) == 1 and opt.pparams[0].shape == params[k].shape
    opt.forward_backward(model, X, y, mse)
    opt.step()
    for p, p0, gr in zip((model[0].weight, model[2].weight), params, adv):
        torch.testing.assert_close(p.detach(), p0 - lr * gr, atol=1e-12, rtol=0)
