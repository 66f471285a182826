"""The study population is generated from parameters: m values, member names, optimizer configs."""

import pytest

from samlab.pipelines.study.pipeline import feature_population, obf_population, perturbation_batch_sizes, population


def test_perturbation_batch_sizes():
    assert perturbation_batch_sizes({"training": {"batch_size": 32}}) == [1, 2, 4, 8, 16, 32]
    assert perturbation_batch_sizes({"training": {"batch_size": 24}}) == [1, 2, 4, 8]
    assert perturbation_batch_sizes({"training": {"batch_size": 24}, "perturbation_batch_sizes": [3, 24]}) == [3, 24]
    with pytest.raises(ValueError, match="divide"):
        perturbation_batch_sizes({"training": {"batch_size": 24}, "perturbation_batch_sizes": [5]})


def test_population_members_and_optimizers():
    study = {"training": {"batch_size": 4}, "optimizer_defaults": {"lr": 0.1, "rho": 0.2},
             "perturbations": {"sam": {"name": "sam"}, "obf": {"name": "obf", "rho": 0.5}},
             "baselines": {"sgd": {"name": "sgd"}}, "seeds": [0, 3]}
    members = {m["name"]: m for m in population(study)}
    assert len(members) == 2 * 3 * 2 + 2
    assert members["study_obf_m2_s3"]["optimizer"] == {"lr": 0.1, "rho": 0.5, "name": "obf", "perturbation_batch_size": 2}
    assert members["study_sgd_s0"]["optimizer"] == {"lr": 0.1, "name": "sgd"} and members["study_sgd_s0"]["m"] is None
    with pytest.raises(ValueError, match="at least 3"):
        population({**study, "perturbations": {}, "seeds": [0]})
    fs = feature_population("toy", {"optimizer_defaults": {"lr": 0.1, "rho": 0.1},
                                    "variants": {"sgd": {"name": "sgd"}, "sam_big": {"name": "sam", "rho": 0.4}}})
    assert [m["name"] for m in fs] == ["features_toy_sgd_s0", "features_toy_sam_big_s0"]
    assert fs[0]["optimizer"] == {"lr": 0.1, "name": "sgd"} and fs[1]["optimizer"]["rho"] == 0.4


def test_obf_sweep_members_cover_the_grid_with_valid_names():
    study = {"optimizer_defaults": {"lr": 0.05, "rho": 0.1}}
    sweep = {"gammas": [1e-12, 0.5], "lambdas": [None, 0.3], "seeds": [0, 1], "optimizer_defaults": {"rho": 0.2}}
    members = {m["name"]: m for m in obf_population(sweep, study)}
    assert sorted(members) == sorted(f"obf_g{g}_l{lam}_s{s}" for g in ("1em12", "0p5") for lam in ("auto", "0p3")
                                     for s in (0, 1))
    assert members["obf_g0p5_l0p3_s1"]["optimizer"] == {"lr": 0.05, "rho": 0.2, "name": "obf", "gamma": 0.5, "lam": 0.3}
    assert members["obf_g1em12_lauto_s0"]["optimizer"]["lam"] is None and members["obf_g1em12_lauto_s0"]["seed"] == 0
    assert all("." not in name for name in members)  # a dot would split the Kedro namespace
    with pytest.raises(ValueError, match=r"λ in \[0, 1\)"):
        obf_population({"gammas": [0.5, 1.0], "lambdas": [1.0]}, study)
    with pytest.raises(ValueError, match="γ must be in"):
        obf_population({"gammas": [2.0, 1.0]}, study)
    with pytest.raises(ValueError, match="at least two"):
        obf_population({"gammas": [1.0], "lambdas": [0.1]}, study)
