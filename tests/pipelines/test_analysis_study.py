"""End-to-end runs of the analysis and study pipelines on tiny parameters, in a throw-away project copy."""

import json

import pandas as pd
import pytest
import yaml

from tests.conftest import kedro

TINY_ANALYSIS = (
    "analysis.subset.size=64,analysis.hessian.iterations=3,analysis.trace.samples=2,"
    "analysis.m_sharpness.m=16,analysis.adaptive_sharpness.m=16"
)


@pytest.mark.slow
def test_analysis_measures_every_trained_variant(project):
    # the default run (data → training → analysis → reporting), one session
    kedro(project, "run", "--params", "training.epochs=1,model.name=samlab_cnn," + TINY_ANALYSIS)
    out = project / "data"
    summary = pd.read_csv(out / "08_reporting" / "analysis_summary.csv")
    assert list(summary["variant"]) == ["sgd", "sam"]
    for col in (
        "hessian_top_eigenvalue",
        "hessian_trace",
        "m_sharpness",
        "adaptive_sharpness",
        "gini_real",
        "gini_phantom",
    ):
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


def _tiny_study(project):
    base = yaml.safe_load((project / "conf" / "base" / "parameters_study.yml").read_text())
    study = base["study"]
    study["training"].update(epochs=1, batch_size=16)
    study["perturbation_batch_sizes"] = [1, 4, 16]
    study["seeds"] = [0, 1]
    study["forgetting_every"] = 10
    study["measure"] = {
        "subset": {"size": 64},
        "hessian": {"iterations": 3},
        "trace": {"samples": 2},
        "m_sharpness": {"m": 16},
        "adaptive_sharpness": {"m": 16},
    }
    study["correlation"]["permutations"] = 50
    study["perturbations"] = {"sam": {"name": "sam"}}
    toy = base["feature_study"]["toy"]
    toy["data"].update(n_train=256, n_val=32, n_test=128)
    toy["training"].update(epochs=2, batch_size=32)
    toy["optimizers"] = {"lsam": {"name": "lsam", "rhos": [0.5]}, "sam": {"name": "sam", "rhos": [0.05]}}
    toy["turns"] = [2.0]
    toy["seeds"] = [0, 1]
    toy["forgetting_every"] = 5  # 16 updates in all
    toy["measure"] = {"subset": {"size": 256}, "bins": 2, "early_epoch": 1}
    dominoes = base["feature_study"]["dominoes"]
    dominoes["training"]["epochs"] = 1
    dominoes["optimizers"] = {"lsam": {"name": "lsam", "rhos": [0.5]}}
    dominoes["seeds"] = [0]
    base["feature_study"] = {"toy": toy, "dominoes": dominoes, "cifar_mnist": base["feature_study"]["cifar_mnist"]}
    base["obf_sweep"] = {"gammas": [1.0e-12, 1.0], "lambdas": [None], "seeds": [0], "optimizer_defaults": {"rho": 0.1}}
    base["study_runner"] = {"executor": "dask", "workers": 2}  # a LocalCluster of 2 worker processes
    (project / "conf" / "local" / "parameters_study.yml").write_text(yaml.safe_dump(base))
    return base


@pytest.mark.slow
def test_study_population_and_correlation(project):
    base = _tiny_study(project)
    study = base["study"]
    kedro(project, "run", "--pipelines", "study")
    out = project / "data" / "08_reporting"
    population = pd.read_csv(out / "study_population.csv")
    names = [f"study_sam_m{m}_s{s}" for m in (1, 4, 16) for s in (0, 1)]
    assert sorted(population["variant"]) == sorted(names + ["study_sgd_s0", "study_sgd_s1"])
    sam = population.set_index("variant").loc["study_sam_m4_s0"]
    assert sam["forgetting_steps"] > 0 and sam["forgetting_output_kl"] > 0 and sam["forgetting_loss_increase"] > 0
    # per chunk: with m = 1 each chunk is one sample, which exposes no information about the inputs
    assert (
        population.set_index("variant").loc[["study_sam_m1_s0", "study_sam_m1_s1"], "forgetting_info_clean"] == 0
    ).all()
    assert pd.isna(population.set_index("variant").loc["study_sgd_s0", "forgetting_output_kl"])
    assert population["test_accuracy"].between(0.1, 1).all()
    corr = pd.read_csv(out / "study_correlation.csv").set_index("metric")
    assert set(corr.index) == set(study["correlation"]["metrics"])
    assert (corr["n"] == 6).all()  # one population for every metric: the perturbed members, SGD beside it
    assert corr["tau"].between(-1, 1).all() and corr["p_value"].between(0, 1).all()
    models = pd.read_csv(out / "study_models.csv")
    assert len(models) == 6 * len(study["correlation"]["metrics"])
    tau_m = pd.read_csv(out / "study_tau_vs_m.csv")
    assert (out / "figures" / "tau_vs_m_panels.json").stat().st_size > 0
    assert sorted(set(tau_m["m"])) == [1, 4, 16] and {"metric", "tau", "p_value", "significant"} <= set(tau_m.columns)
    assert {"variant", "step", "output_kl", "info_drop"} <= set(pd.read_csv(out / "study_forgetting.csv").columns)
    assert set(pd.read_csv(out / "study_balance.csv")["variant"]) == set(population["variant"])
    # the Dask workers' rows are bit-identical to this process running the same member
    from samlab.study import run_member, tau_population

    member = next(m for m in tau_population(study) if m.name == "study_sam_m4_s1")
    saved = json.loads((project / "data" / "07_model_output" / "tau" / "rows" / f"{member.name}.json").read_text())
    here = json.loads(json.dumps(run_member(member).row))
    assert saved == here
    assert (project / "data" / "06_models" / "tau" / f"{member.name}.pt").stat().st_size > 0

    features = pd.read_csv(out / "feature_study.csv").set_index("variant")
    toy = [
        f"features_toy_k{k}_{o}_s{s}" for k in (2,) for o in ("sgd_rho0", "lsam_rho0p5", "sam_rho0p05") for s in (0, 1)
    ]
    assert sorted(features.index) == sorted(toy + ["features_dominoes_sgd_rho0_s0", "features_dominoes_lsam_rho0p5_s0"])
    two = features.loc[toy]
    for col in (
        "probe_easy_phi_accuracy",
        "probe_hard_phi_accuracy",
        "probe_hard_phi_hidden_accuracy",
        "gini_real",
        "gini_phantom",
        "test_accuracy",
    ):
        assert two[col].between(0, 1).all(), col
    sgd = two[two["rho"] == 0]
    assert (sgd["probe_easy_phi_accuracy"] > 0.9).all()  # the easy feature is linearly separable
    assert (two["phantom_ratio"] > 0).all() and (two.loc[two["rho"] == 0, "factor_easy_median"] == 1).all()
    summary = pd.read_csv(out / "feature_summary.csv")
    lsam = summary[(summary.group == "toy_k2") & (summary.perturbation == "lsam") & (summary.metric == "phantom_ratio")]
    assert sorted(lsam["rho"]) == [0.0, 0.5] and (lsam["n"] == 2).all() and lsam["ci95"].notna().all()
    factors = pd.read_csv(out / "feature_lr_factors.csv")
    assert len(factors) == 6 * (256 // 32) and {"factor_easy", "factor_hard", "perturbation", "rho"} <= set(
        factors.columns
    )
    bins = pd.read_csv(out / "feature_lambda_bins.csv")
    assert set(bins["weights"]) == {"real", "phantom"} and bins["median_lambda"].between(0, 1).all()
    assert sorted(set(bins["epoch"])) == [1, 2] and two["gini_real_early"].between(0, 1).all()
    assert set(pd.read_csv(out / "feature_lorenz.csv")["weights"]) == {"real", "phantom"}
    dom = features.loc["features_dominoes_lsam_rho0p5_s0"]
    assert 0 <= dom["probe_hard_pre_logits_accuracy"] <= 1 and pd.isna(dom.get("phantom_ratio"))
    import plotly.io

    for fig in ("probe_error_vs_rho", "phantom_ratio_vs_rho", "lorenz_sgd_vs_lsam", "lr_factors", "lambda_bins"):
        figure = plotly.io.read_json(out / "figures" / f"feature_{fig}.json")
        assert len(figure.data) > 0, fig  # drawn, not the "nothing yet" figure
    balance = pd.read_csv(out / "feature_balance_trajectory.csv")
    assert set(balance["variant"]) == set(toy)  # the dominoes run has fewer updates than forgetting_every
    obf = pd.read_csv(out / "obf_sweep.csv").sort_values("gamma")
    assert list(obf["variant"]) == ["obf_g1em12_lauto_s0", "obf_g1_lauto_s0"]
    assert list(obf["gamma"]) == [1e-12, 1.0] and list(obf["lambda"]) == [0.1, 0.1]  # λ = 1/C on 10 digit classes
    assert obf["accuracy"].between(0.1, 1).all() and (obf["forgetting_steps"] > 0).all()


def test_study_graph_is_fixed_and_not_in_default(project, monkeypatch):
    monkeypatch.chdir(project)
    from kedro.framework.project import configure_project, pipelines

    configure_project("samlab")
    study = pipelines["study"]
    assert not any(n.namespace for n in study.nodes)  # no namespace per member: partitions instead
    assert {n.name for n in study.nodes} == {
        "run_tau_study",
        "collect_tau_study",
        "correlate",
        "run_obf_sweep",
        "collect_obf_sweep",
        "run_feature_study",
        "collect_feature_study",
        "plot_feature_study",
        "plot_tau_study",
    }
    assert {"study_correlation", "obf_sweep", "feature_summary", "tau_member_rows"} <= study.all_outputs()
    assert not (study.all_outputs() & pipelines["__default__"].all_outputs())
