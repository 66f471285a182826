"""Hessian quantities and m-sharpness against a least-squares model, whose Hessian is 2XᵀX/N exactly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from samlab.analysis.sharpness import (
    fixed_subset,
    hessian_top_eigenvalue,
    hessian_trace,
    hessian_vector_product,
    m_sharpness,
)


def mse(out, y):
    return F.mse_loss(out.squeeze(1), y)


def linear_problem(n=32, d=5, seed=0, diagonal=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    if diagonal:  # orthogonal columns scaled: XᵀX = diag(s²)
        q, _ = torch.linalg.qr(x)
        x = q * torch.tensor([4.0, 3.0, 2.0, 1.0, 0.5], dtype=torch.float64)[:d]
    y = torch.randn(n, generator=g, dtype=torch.float64)
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, d, generator=g, dtype=torch.float64))
    return model, x, y, 2.0 * x.T @ x / n


def test_hvp_is_hessian_times_vector_and_chunks_agree():
    model, x, y, h = linear_problem()
    v = [torch.arange(5, dtype=torch.float64).view(1, 5)]
    expected = (h @ v[0].view(-1)).view(1, 5)
    torch.testing.assert_close(hessian_vector_product(model, mse, x, y, v)[0], expected)
    torch.testing.assert_close(hessian_vector_product(model, mse, x, y, v, chunk_size=8)[0], expected)


def test_power_iteration_finds_top_eigenvalue():
    model, x, y, h = linear_problem(seed=1)
    top = float(torch.linalg.eigvalsh(h).max())
    res = hessian_top_eigenvalue(model, mse, x, y, iterations=500, tol=1e-10)
    assert res["eigenvalue"] == pytest.approx(top, rel=1e-6)
    assert res["converged"] and res["iterations"] < 500
    diag_model, dx, dy, _ = linear_problem(diagonal=True)  # eigenvalues 2·s²/N
    assert hessian_top_eigenvalue(diag_model, mse, dx, dy, iterations=200, tol=1e-12)["eigenvalue"] == pytest.approx(
        2 * 16 / 32, rel=1e-6
    )


def test_power_iteration_stops_at_iteration_budget():
    model, x, y, _ = linear_problem(seed=1)
    res = hessian_top_eigenvalue(model, mse, x, y, iterations=2, tol=1e-14)
    assert res["iterations"] == 2 and not res["converged"]
    with pytest.raises(ValueError):
        hessian_top_eigenvalue(model, mse, x, y, iterations=0)


def test_hutchinson_trace_exact_for_diagonal_hessian_and_close_otherwise():
    model, x, y, h = linear_problem(diagonal=True)
    res = hessian_trace(model, mse, x, y, samples=3)
    assert res["trace"] == pytest.approx(float(torch.trace(h)), rel=1e-9)  # vᵀDv = tr D for Rademacher v
    assert res["stderr"] == pytest.approx(0.0, abs=1e-9)
    model, x, y, h = linear_problem(seed=2)
    assert hessian_trace(model, mse, x, y, samples=400)["trace"] == pytest.approx(float(torch.trace(h)), rel=0.1)


def _expected_m_sharpness(model, x, y, rho, m, adaptive=False):
    w = model.weight.detach().view(-1)
    out = []
    for xb, yb in zip(x.split(m), y.split(m)):
        hb = 2.0 * xb.T @ xb / m
        g = 2.0 * xb.T @ (xb @ w - yb) / m
        if adaptive:
            a = w.abs()
            e = rho * a * a * g / torch.linalg.norm(a * g)
        else:
            e = rho * g / torch.linalg.norm(g)
        out.append(float(g @ e + 0.5 * e @ hb @ e))  # exact for a quadratic
    return float(np.mean(out))


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("m", [1, 4, 32])
def test_m_sharpness_matches_quadratic_closed_form(m, adaptive):
    model, x, y, _ = linear_problem(seed=3)
    before = model.weight.detach().clone()
    res = m_sharpness(model, mse, x, y, rho=0.3, m=m, adaptive=adaptive)
    assert res["sharpness"] == pytest.approx(_expected_m_sharpness(model, x, y, 0.3, m, adaptive), rel=1e-9)
    assert res["batches"] == 32 // m
    assert torch.equal(model.weight, before)  # weights restored exactly


def test_m_sharpness_grows_as_m_shrinks_and_rejects_bad_input():
    model, x, y, _ = linear_problem(seed=4)
    assert m_sharpness(model, mse, x, y, 0.1, m=1)["sharpness"] > m_sharpness(model, mse, x, y, 0.1, m=32)["sharpness"]
    with pytest.raises(ValueError, match="exceeds"):
        m_sharpness(model, mse, x, y, 0.1, m=64)


def test_measurements_run_in_eval_mode_and_leave_batchnorm_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model.train()
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    stats = model[1].running_mean.clone()
    hessian_top_eigenvalue(model, F.cross_entropy, x, y, iterations=3)
    m_sharpness(model, F.cross_entropy, x, y, 0.05, m=4)
    assert torch.equal(model[1].running_mean, stats) and model.training


def test_fixed_subset_is_deterministic():
    assert torch.equal(fixed_subset(100, 10, seed=3), fixed_subset(100, 10, seed=3))
    assert len(set(fixed_subset(100, 10).tolist())) == 10
    assert torch.equal(fixed_subset(5, None), torch.arange(5))
