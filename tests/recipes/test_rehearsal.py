"""Every recipe environment end to end on miniature data in the real formats: pre-training of every run,
evaluation, robustness (ImageNet val, ReaL, V2, R both ways, Sketch, ImageNet-C), transfer to CIFAR-10/100,
analysis and the report, with `--params` that shrink model, epochs and images only."""

import json

import pandas as pd
import pytest

from tests.conftest import kedro
from tests.recipes.conftest import ENVS, RUNS, TRANSFER_RUNS, shrink

SETS = {"test", "imagenet_real", "imagenet_v2", "imagenet_r", "imagenet_r_2", "imagenet_sketch", "imagenet_c"}


@pytest.mark.slow
@pytest.mark.parametrize("env", ENVS)
def test_recipe_environment_runs_end_to_end(env, recipe_project, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("KEDRO_ENV", env)  # the recipe's variant list: the environment is chosen with KEDRO_ENV
    kedro(recipe_project, "run", "--params", shrink(env))
    out = recipe_project / "data"
    runs = [f"{env}_{run}" for run in RUNS]
    for run in runs:
        metrics = json.loads((out / "07_model_output" / run / "metrics.json").read_text())
        assert metrics["variant"] == run and 0 <= metrics["test_accuracy"] <= 1 and metrics["test_n"] == 12
        history = pd.read_csv(out / "07_model_output" / run / "history.csv")
        assert len(history) == {"vit_s32": 2, "resnet50": 1}[env] and history["train_loss"].notna().all()
    robustness = pd.read_csv(out / "08_reporting" / "robustness.csv")
    assert sorted(set(robustness["model"])) == sorted(runs)
    for run in runs:
        rows = robustness[robustness["model"] == run]
        assert set(rows["test_set"]) == SETS and len(rows) == len(SETS), rows
    counts = robustness.drop_duplicates("test_set").set_index("test_set")["n"]
    assert counts["test"] == 12 and counts["imagenet_real"] == 9 and counts["imagenet_v2"] == 6
    assert counts["imagenet_r"] == counts["imagenet_r_2"] == 4 and counts["imagenet_sketch"] == 6
    c = robustness[robustness["test_set"] == "imagenet_c"]
    assert set(c["corruption"]) == {"fog"} and set(c["severity"]) == {1}
    transfer = pd.read_csv(out / "08_reporting" / "transfer.csv")
    got = sorted(zip(transfer["method"], transfer["target"]))
    assert got == sorted((f"finetune_{r}", t) for r in TRANSFER_RUNS for t in ("cifar10", "cifar100"))
    sources = dict(zip(transfer["method"], transfer["model"]))
    assert sources == {
        "finetune_sam_to_sgd": f"{env}_sam",
        "finetune_obf_to_sgd": f"{env}_sam_obf",
        "finetune_vanilla_to_sam": f"{env}_vanilla",
        "finetune_vanilla_to_sam_obf": f"{env}_vanilla",
    }
    assert transfer["n"].eq(20).all() and transfer["accuracy"].between(0, 1).all()
    analysis = pd.read_csv(out / "08_reporting" / "analysis_summary.csv")
    assert sorted(analysis["variant"]) == sorted(runs) and analysis["hessian_top_eigenvalue"].notna().all()
    assert (out / "08_reporting" / "report.html").exists()
