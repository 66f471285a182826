"""The GPU recipe conf/study_cifar10 (τ study at paper 1's scale) rehearsed in miniature: the real CIFAR-10
archive format (a tiny one written here), the recipe's model and perturbations, with sizes shrunk only."""

import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader

from samlab.study import tau_population
from tests.conftest import REPO, kedro
from tests.data.fakes import write_cifar10


def recipe() -> dict:
    loader = OmegaConfigLoader(
        conf_source=str(REPO / "conf"), base_env="base", default_run_env="local", env="study_cifar10"
    )
    return dict(loader["parameters"])


def test_recipe_is_paper_scale():
    params = recipe()
    study = params["study"]
    assert study["data"]["name"] == "cifar10" and study["training"]["batch_size"] == 512
    assert study["perturbation_batch_sizes"] == [2**k for k in range(10)]  # 1 … 512
    assert len(study["seeds"]) >= 3 and study["measure"]["subset"]["size"] == 8192
    members = tau_population(study)
    assert (
        len(members) == 2 * 10 * 3 + 3
        and min(m.m for m in members if m.m) == 1
        and max(m.m for m in members if m.m) == 512
    )


@pytest.mark.slow
def test_recipe_rehearsed_on_a_tiny_cifar10_archive(project):
    write_cifar10(project / "data" / "01_raw", per_batch=20, test=20)
    params = recipe()
    study = params["study"]
    study["data"]["md5"] = None  # the tiny archive is not the published one
    study["training"].update(epochs=1, batch_size=16, eval_batch_size=64, warmup_epochs=0)
    study["perturbation_batch_sizes"] = [4, 16]
    study["seeds"] = [0]
    study["forgetting_every"] = 2
    study["measure"].update(
        subset={"split": "train", "size": 32, "seed": 0},
        chunk_size=32,
        hessian={"iterations": 2, "tol": 1.0e-3},
        trace={"samples": 1},
        m_sharpness={"rho": 0.05, "m": 16},
        adaptive_sharpness={"rho": 0.5, "m": 16},
    )
    study["correlation"]["permutations"] = 20
    runner = {"executor": "sequential", "workers": 1, "address": None}
    (project / "conf" / "study_cifar10" / "parameters_study.yml").write_text(
        yaml.safe_dump({"study": study, "study_runner": runner})
    )
    kedro(project, "run", "--pipelines", "study", "--tags", "tau", "--env", "study_cifar10")
    out = project / "data" / "08_reporting"
    population = pd.read_csv(out / "study_population.csv").set_index("variant")
    assert sorted(population.index) == sorted(
        ["study_sam_m4_s0", "study_sam_m16_s0", "study_obf_m4_s0", "study_obf_m16_s0", "study_sgd_s0"]
    )
    assert population["test_accuracy"].between(0, 1).all() and (population["forgetting_steps"].dropna() > 0).all()
    tau_m = pd.read_csv(out / "study_tau_vs_m.csv")
    assert sorted(set(tau_m["m"])) == [4, 16]
    assert (pd.read_csv(out / "study_correlation.csv")["n"] == 4).all()
    assert not (out / "feature_study.csv").exists()  # --tags tau: only the τ study ran
