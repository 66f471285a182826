"""Paper 2's two-branch model and its measurements, checked against hand computations and autograd."""

import math

import numpy as np
import pandas as pd
import pytest
import timm
import torch
import torch.nn.functional as F

import samlab.models  # noqa: F401 - registers the small models
from samlab.analysis.forgetting import (
    input_exposed_information,
    kl_divergence,
    step_forgetting,
)
from samlab.analysis.two_branch import (
    head_per_batch,
    lambda_bins,
    logistic_loss,
    phantom_head,
)
from samlab.optim import StepStats
from samlab.study.summaries import mean_ci


def model(seed=0):
    torch.manual_seed(seed)
    return timm.create_model("samlab_two_branch", in_chans=3, img_size=1, hidden=8)


def test_two_branch_is_v_dot_phi_and_ce_is_the_logistic_loss():
    m = model()
    x, y = torch.randn(16, 3, 1, 1), torch.randint(0, 2, (16,))
    phi = m.forward_features(x)
    v = m.get_classifier().weight.view(-1)
    f = phi @ v
    assert phi.shape == (16, 2) and m.get_classifier().bias is None
    assert torch.allclose(phi[:, 0:1], m.phi_easy(x.flatten(1)[:, :1]))  # Φ_easy sees only x_easy
    assert torch.allclose(phi[:, 1:2], m.phi_hard(x.flatten(1)[:, 1:]))
    assert torch.allclose(F.cross_entropy(m(x), y), logistic_loss(f, y), atol=1e-6)
    with pytest.raises(ValueError, match="binary"):
        timm.create_model("samlab_two_branch", num_classes=3, in_chans=3, img_size=1)


def test_phantom_head_is_the_normalised_ascent_on_v_and_factors_follow():
    m = model(1)
    x, y = torch.randn(64, 3, 1, 1), torch.randint(0, 2, (64,))
    head = m.get_classifier().weight
    loss = F.cross_entropy(m(x), y)
    (g,) = torch.autograd.grad(loss, [head])
    expected = (head + 0.3 * g / g.norm()).detach().double().view(-1)
    with torch.no_grad():
        phi = m.forward_features(x).double()
    got = phantom_head(head.detach().double().view(-1), phi, y.double() * 2 - 1, 0.3)
    assert torch.allclose(got, expected, atol=1e-6)
    table = head_per_batch(m, x, y, rho=0.3, batch_size=16)
    assert len(table) == 4
    assert np.allclose(table["factor_easy"], table["v_tilde_easy"] / table["v_easy"])
    assert np.allclose(table["phantom_ratio"], table["v_tilde_hard"].abs() / table["v_tilde_easy"].abs())
    assert (head_per_batch(m, x, y, rho=0.0, batch_size=16)[["factor_easy", "factor_hard"]] == 1).all().all()


def test_lambda_bins_take_the_median_importance_per_contribution_bin():
    m = model(2)
    x, y = torch.randn(200, 3, 1, 1), torch.randint(0, 2, (200,))
    bins = lambda_bins(m, x, y, rho=0.0, bins=2)
    real = bins[bins.weights == "real"]
    assert real["count"].sum() == 200 and len(real) <= 4
    assert np.allclose(real["median_lambda"].to_numpy(), bins[bins.weights == "phantom"]["median_lambda"].to_numpy())
    # λ = σ(−(c_easy + c_hard)): higher contributions, lower weight
    hi = real[(real.easy_bin == 1) & (real.hard_bin == 1)]["median_lambda"].item()
    lo = real[(real.easy_bin == 0) & (real.hard_bin == 0)]["median_lambda"].item()
    assert hi < lo


def test_forgetting_is_measured_per_chunk_against_its_own_clean_outputs():
    clean = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])
    perturbed = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [3.0, 0.0]])  # each chunk agrees within itself
    stats = StepStats(loss=0.5, logits=clean, perturbed_loss=0.7, perturbed_logits=perturbed)
    row = step_forgetting(stats, chunk_size=2)
    chunks = [(clean[:2], perturbed[:2]), (clean[2:], perturbed[2:])]
    assert row["output_kl"] == pytest.approx(sum(kl_divergence(c, p) for c, p in chunks) / 2)
    info = [input_exposed_information(p) for _, p in chunks]
    assert row["info_perturbed"] == pytest.approx(sum(info) / 2)
    assert row["info_perturbed"] == pytest.approx(0.0, abs=1e-12)
    assert input_exposed_information(perturbed) > 0.05  # pooling the chunks would invent information
    assert step_forgetting(stats, chunk_size=1)["info_clean"] == 0.0  # one sample exposes nothing
    with pytest.raises(ValueError, match="divide"):
        step_forgetting(stats, chunk_size=3)


def test_mean_ci_is_the_student_t_half_width():
    rows = pd.DataFrame({"g": ["a"] * 3 + ["b"], "x": [1.0, 2.0, 4.0, 5.0]})
    t = mean_ci(rows, ["g"], ["x"]).set_index("g")
    half = 4.302652729911275 * np.std([1.0, 2.0, 4.0], ddof=1) / math.sqrt(3)  # t_{0.975, 2}
    assert t.loc["a", "mean"] == pytest.approx(7 / 3) and t.loc["a", "ci95"] == pytest.approx(half)
    assert t.loc["b", "n"] == 1 and math.isnan(t.loc["b", "ci95"])


def test_feature_summary_puts_each_groups_sgd_at_rho_zero_of_its_own_optimizers():
    from samlab.study.summaries import feature_tables

    rows = pd.DataFrame(
        {
            "variant": list("abcde"),
            "group": ["g1"] * 3 + ["g2"] * 2,
            "perturbation": ["sgd", "lsam", "sam", "sgd", "sam"],
            "rho": [0, 0.1, 0.1, 0, 0.1],
            "seed": 0,
            "test_accuracy": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    t = feature_tables(rows, {})["feature_summary"].set_index(["group", "perturbation", "rho"])["mean"]
    assert t[("g1", "lsam", 0.0)] == 1.0 and t[("g1", "sam", 0.0)] == 1.0 and t[("g2", "sam", 0.0)] == 4.0
    assert ("g2", "lsam", 0.0) not in t.index


def test_tau_figure_is_solid_only_between_significant_points():
    from samlab.reporting.study_tau import tau_vs_m_panels

    table = pd.DataFrame({"metric": ["kl"] * 3, "m": [1, 2, 4], "tau": [0.5, 0.6, 0.1], "p_value": [0.01, 0.02, 0.5]})
    lines = [t for t in tau_vs_m_panels(table).data if t.mode == "lines"]
    assert [t.line.dash for t in lines] == ["solid", "dot"]
    markers = next(t for t in tau_vs_m_panels(table).data if t.mode == "markers")
    assert list(markers.marker.symbol) == ["circle", "circle", "circle-open"]
