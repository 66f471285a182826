"""The study populations are built from parameters as plain, frozen members."""

import dataclasses

import pytest

from samlab.study import (
    Member,
    feature_population,
    obf_population,
    perturbation_batch_sizes,
    tau_population,
)

COMMON = {"data": {"name": "digits"}, "model": {"name": "samlab_mlp"}, "training": {"batch_size": 4, "epochs": 1}}


def test_perturbation_batch_sizes():
    assert perturbation_batch_sizes({"training": {"batch_size": 32}}) == [1, 2, 4, 8, 16, 32]
    assert perturbation_batch_sizes({"training": {"batch_size": 24}}) == [1, 2, 4, 8]
    assert perturbation_batch_sizes({"training": {"batch_size": 24}, "perturbation_batch_sizes": [3, 24]}) == [3, 24]
    with pytest.raises(ValueError, match="divide"):
        perturbation_batch_sizes({"training": {"batch_size": 24}, "perturbation_batch_sizes": [5]})


def test_tau_population_members_and_optimizers():
    study = {
        **COMMON,
        "optimizer_defaults": {"lr": 0.1, "rho": 0.2},
        "perturbations": {"sam": {"name": "sam"}, "obf": {"name": "obf", "rho": 0.5}},
        "baselines": {"sgd": {"name": "sgd"}},
        "seeds": [0, 3],
    }
    members = {m.name: m for m in tau_population(study)}
    assert len(members) == 2 * 3 * 2 + 2
    obf = members["study_obf_m2_s3"]
    assert obf.optimizer == {"lr": 0.1, "rho": 0.5, "name": "obf", "perturbation_batch_size": 2}
    assert (obf.m, obf.seed, obf.rho, obf.kind) == (2, 3, 0.5, "measure")
    sgd = members["study_sgd_s0"]
    assert sgd.optimizer == {"lr": 0.1, "name": "sgd"} and sgd.m is None and sgd.rho == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        obf.seed = 1  # plain, frozen data
    with pytest.raises(ValueError, match="at least 3"):
        tau_population(
            {**study, "perturbations": {"sam": {"name": "sam"}}, "perturbation_batch_sizes": [4], "seeds": [0]}
        )
    study["optimizer_defaults"]["lr"] = 9.0
    assert obf.optimizer["lr"] == 0.1  # members own copies of their settings


def test_feature_population_has_sgd_as_rho_zero_at_every_complexity():
    fs = {
        **COMMON,
        "data": {"name": "toy"},
        "turns": [1.0, 2.5],
        "optimizer_defaults": {"lr": 0.1, "rho": 0.3},
        "optimizers": {"lsam": {"name": "lsam"}, "sam": {"name": "sam"}},
        "rhos": [0.1, 0.5],
        "seeds": [0, 1, 2],
    }
    members = {m.name: m for m in feature_population("toy", fs)}
    assert len(members) == 2 * 3 * (1 + 2 * 2)
    m = members["features_toy_k2p5_lsam_rho0p5_s2"]
    assert m.data == {"name": "toy", "turns": 2.5} and m.group == "toy_k2p5" and m.optimizer["rho"] == 0.5
    sgd = members["features_toy_k1_sgd_rho0_s0"]
    assert sgd.optimizer == {"lr": 0.1, "name": "sgd"} and sgd.rho == 0.0 and sgd.kind == "features"
    own = feature_population("toy", {**fs, "optimizers": {"sam": {"name": "sam", "rhos": [0.01]}}})
    assert sorted({m.rho for m in own}) == [0.0, 0.01] and "rhos" not in own[-1].optimizer
    with pytest.raises(ValueError, match="> 0"):
        feature_population("toy", {**fs, "rhos": [0.0]})
    with pytest.raises(ValueError, match="may not contain"):
        Member("a.b", "tau", "sam", {}, 0, {}, {}, {})


def test_obf_sweep_members_cover_the_grid_with_valid_names():
    study = {**COMMON, "optimizer_defaults": {"lr": 0.05, "rho": 0.1}}
    sweep = {"gammas": [1e-12, 0.5], "lambdas": [None, 0.3], "seeds": [0, 1], "optimizer_defaults": {"rho": 0.2}}
    members = {m.name: m for m in obf_population(sweep, study)}
    assert sorted(members) == sorted(
        f"obf_g{g}_l{lam}_s{s}" for g in ("1em12", "0p5") for lam in ("auto", "0p3") for s in (0, 1)
    )
    assert members["obf_g0p5_l0p3_s1"].optimizer == {"lr": 0.05, "rho": 0.2, "name": "obf", "gamma": 0.5, "lam": 0.3}
    assert members["obf_g1em12_lauto_s0"].optimizer["lam"] is None and members["obf_g1em12_lauto_s0"].kind == "score"
    with pytest.raises(ValueError, match=r"λ in \[0, 1\)"):
        obf_population({"gammas": [0.5, 1.0], "lambdas": [1.0]}, study)
    with pytest.raises(ValueError, match="γ must be in"):
        obf_population({"gammas": [2.0, 1.0]}, study)
    with pytest.raises(ValueError, match="at least two"):
        obf_population({"gammas": [1.0], "lambdas": [0.1]}, study)
