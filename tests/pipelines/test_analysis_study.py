"""End-to-end runs of the analysis and study pipelines on tiny parameters, in a throw-away project copy."""

import json

import pandas as pd
import pytest
import yaml

from tests.conftest import kedro

TINY_ANALYSIS = ("analysis.subset.size=64,analysis.hessian.iterations=3,analysis.trace.samples=2,"
                 "analysis.m_sharpness.m=16,analysis.adaptive_sharpness.m=16")


@pytest.mark.slow
def test_analysis_measures_every_trained_variant(project):
    # the default run (data → training → analysis → reporting), one session
    kedro(project, "run", "--params", "training.epochs=1,model.name=samlab_cnn," + TINY_ANALYSIS)
    out = project / "data"
    summary = pd.read_csv(out / "08_reporting" / "analysis_summary.csv")
    assert list(summary["variant"]) == ["sgd", "sam"]
    for col in ("hessian_top_eigenvalue", "hessian_trace", "m_sharpness", "adaptive_sharpness", "gini_real", "gini_phantom"):
        assert summary[col].notna().all(), col
    # after 1 epoch the top-|λ| direction may have negative curvature; the trace and m-sharpness are positive
    assert (summary["hessian_top_eigenvalue"].abs() > 0).all() and (summary["m_sharpness"] > 0).all()
    assert summary["hessian_iterations"].le(3).all()
    sam = json.loads((out / "07_model_output" / "sam" / "analysis.json").read_text())
    assert sam["optimizer"] == "sam" and 0 <= sam["gini_real"] <= 1
    lorenz = pd.read_csv(out / "08_reporting" / "balance_lorenz.csv")
    assert list(lorenz.columns) == ["variant", "weights", "fraction", "cumulative_share"]  # as each variant's file
    assert set(lorenz["weights"]) == {"real", "phantom"} and len(lorenz) == 2 * 2 * 101
    probes = pd.read_csv(out / "08_reporting" / "probe_accuracy.csv")
    assert probes.empty and "accuracy" in probes.columns  # digits have no *_only_* probe splits
    rescaling = pd.read_csv(out / "08_reporting" / "lr_rescaling_factors.csv")
    assert list(rescaling.columns) == ["variant", "feature", "factor", "v_norm", "v_tilde_norm"]
    features = rescaling.groupby("variant")["feature"].agg(["count", "max"])
    assert (features["count"] == features["max"] + 1).all() and set(features.index) == {"sgd", "sam"}
    live = rescaling.dropna(subset=["factor"])
    assert len(live) > 0.9 * len(rescaling) and (live["factor"] > 0).all()
    assert (live["factor"] - live["v_tilde_norm"] / live["v_norm"]).abs().max() < 1e-9
    assert sam["lr_rescaling_median"] == pytest.approx(rescaling[rescaling.variant == "sam"]["factor"].median())


@pytest.mark.slow
def test_study_population_and_correlation(project):
    base = yaml.safe_load((project / "conf" / "base" / "parameters_study.yml").read_text())
    study = base["study"]
    study["training"].update(epochs=1, batch_size=16)
    study["perturbation_batch_sizes"] = [4, 16]
    study["seeds"] = [0]
    study["forgetting_every"] = 10
    study["measure"] = {"subset": {"size": 64}, "hessian": {"iterations": 3}, "trace": {"samples": 2},
                        "m_sharpness": {"m": 16}, "adaptive_sharpness": {"m": 16}}
    study["correlation"]["permutations"] = 50
    study["perturbations"] = {"sam": {"name": "sam"}}
    toy = base["feature_study"]["toy"]
    toy["data"].update(n_train=256, n_val=32, n_test=128)
    toy["training"].update(epochs=2, batch_size=32)
    toy["variants"] = {"sgd": {"name": "sgd"}, "sam_rho0p2": {"name": "sam", "rho": 0.2}}
    toy["seeds"] = [0]
    toy["forgetting_every"] = 5  # 16 updates in all
    toy["measure"] = study["measure"]
    base["feature_study"] = {"toy": toy}
    base["obf_sweep"] = {"gammas": [1.0e-12, 1.0], "lambdas": [None], "seeds": [0], "optimizer_defaults": {"rho": 0.1}}
    (project / "conf" / "local" / "parameters_study.yml").write_text(yaml.safe_dump(base))
    kedro(project, "run", "--pipelines", "study")
    out = project / "data" / "08_reporting"
    population = pd.read_csv(out / "study_population.csv")
    assert sorted(population["variant"]) == ["study_sam_m16_s0", "study_sam_m4_s0", "study_sgd_s0"]
    sam = population.set_index("variant").loc["study_sam_m4_s0"]
    assert sam["forgetting_steps"] > 0 and sam["forgetting_output_kl"] > 0 and sam["forgetting_loss_increase"] > 0
    assert pd.isna(population.set_index("variant").loc["study_sgd_s0", "forgetting_output_kl"])
    assert population["test_accuracy"].between(0.1, 1).all()
    corr = pd.read_csv(out / "study_correlation.csv")
    assert list(corr.columns) == ["metric", "tau", "p_value", "n", "significant"]
    assert set(corr["metric"]) == set(study["correlation"]["metrics"])
    sharp = corr.set_index("metric").loc["hessian_top_eigenvalue"]
    assert sharp["n"] == 3 and -1 <= sharp["tau"] <= 1 and 0 < sharp["p_value"] <= 1
    assert corr.set_index("metric").loc["forgetting_output_kl", "n"] == 2  # SGD has no perturbation: left out
    models = pd.read_csv(out / "study_models.csv")
    assert {"model", "accuracy", "metric", "value", "perturbation", "m"} <= set(models.columns)
    assert len(models) == 3 * len(study["correlation"]["metrics"])
    tau_m = pd.read_csv(out / "study_tau_vs_m.csv")
    assert sorted(set(tau_m["m"])) == [4, 16] and {"metric", "tau", "p_value"} <= set(tau_m.columns)
    trajectories = pd.read_csv(out / "study_forgetting.csv")
    assert {"variant", "step", "output_kl", "info_drop"} <= set(trajectories.columns)
    features = pd.read_csv(out / "feature_study.csv").set_index("variant")
    assert sorted(features.index) == ["features_toy_sam_rho0p2_s0", "features_toy_sgd_s0"]
    assert list(features["rho"].sort_values()) == [0.0, 0.2]
    for col in ("probe_easy_accuracy", "probe_hard_accuracy", "gini_real", "gini_phantom", "test_accuracy"):
        assert features[col].between(0, 1).all(), col
    assert (features["probe_easy_accuracy"] > 0.9).all()  # the easy feature is linearly separable
    assert features["trajectory_gini_real"].between(0, 1).all()
    assert pd.isna(features.loc["features_toy_sgd_s0", "trajectory_gini_phantom"])  # SGD takes no perturbation
    assert 0 <= features.loc["features_toy_sam_rho0p2_s0", "trajectory_gini_phantom"] <= 1
    balance = pd.read_csv(out / "feature_balance_trajectory.csv")
    assert list(balance.columns) == ["variant", "step", "importance_mean", "phantom_importance_mean", "gini_real",
                                     "gini_phantom"]
    assert set(balance["variant"]) == set(features.index) and (balance["step"] % 5 == 0).all()
    assert set(pd.read_csv(out / "study_balance.csv")["variant"]) == set(population["variant"])
    obf = pd.read_csv(out / "obf_sweep.csv").sort_values("gamma")
    assert list(obf["variant"]) == ["obf_g1em12_lauto_s0", "obf_g1_lauto_s0"]
    assert list(obf["gamma"]) == [1e-12, 1.0] and list(obf["lambda"]) == [0.1, 0.1]  # λ = 1/C on 10 digit classes
    assert obf["accuracy"].between(0.1, 1).all() and (obf["forgetting_steps"] > 0).all()
    assert (project / "data" / "06_models" / "obf_g1_lauto_s0" / "model.pt").stat().st_size > 0


def test_study_is_generated_from_parameters_and_not_in_default(project, monkeypatch):
    monkeypatch.chdir(project)
    from kedro.framework.project import configure_project, pipelines

    configure_project("samlab")
    study = pipelines["study"]
    namespaces = {n.namespace for n in study.nodes if n.namespace}
    assert "study_sam_m1_s0" in namespaces and "study_obf_m32_s1" in namespaces and "study_sgd_s0" in namespaces
    tau = {n for n in namespaces if n.startswith("study_")}
    assert len(tau) == 3 * 6 * 2 + 2  # (sam, obf, randsam) × m ∈ {1, …, 32} × 2 seeds + SGD × 2 seeds
    assert "features_toy_sam_rho0p4_s1" in namespaces and "features_dominoes_lsam_s0" in namespaces
    assert len({n for n in namespaces if n.startswith("obf_")}) == 4 * 4  # γ × λ × 1 seed
    assert "obf_g1em12_l0p1_s0" in namespaces and "obf_sweep" in study.all_outputs()
    assert not any(n.namespace and n.namespace.startswith("study_") for n in pipelines["__default__"].nodes)
    assert {"sgd.analysis", "sam.analysis", "analysis_summary"} <= pipelines["__default__"].all_outputs()
