"""A recipe under `torchrun` with two gloo ranks equals the single-process run where the maths says so.

The ViT-S/32 SAM run perturbs per chunk of m = 64 samples of each rank's batch. With a global batch of 128,
one process splits it into two chunks of 64; two ranks each take one half (64) as their only chunk; the
gradients are averaged once per update either way. So both runs follow the same maths, and the trained
weights agree up to the order of floating-point sums.
"""

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import kedro
from tests.recipes.conftest import shrink

ARGS = ["run", "--pipelines", "training", "--namespaces", "vit_s32_sam"]


@pytest.mark.slow
def test_two_ranks_of_the_sam_recipe_equal_one_process(recipe_project, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("KEDRO_ENV", "vit_s32")  # the recipe's variant list (docs/recipes.md)
    params = shrink("vit_s32") + ",training.device=cpu"
    model = recipe_project / "data" / "06_models" / "vit_s32_sam" / "model.pt"
    kedro(recipe_project, "run", "--pipelines", "data_preparation", "--params", params)
    kedro(recipe_project, *ARGS, "--params", params)
    single = torch.load(model, weights_only=True)["state_dict"]
    model.unlink()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "kedro",
            *ARGS,
            "--params",
            params,
        ],
        check=False,
        cwd=recipe_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    ranks = torch.load(model, weights_only=True)["state_dict"]
    assert single.keys() == ranks.keys()
    for key in single:
        torch.testing.assert_close(ranks[key], single[key], rtol=1e-4, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")
    history = (recipe_project / "data" / "07_model_output" / "vit_s32_sam" / "history.csv").read_text()
    assert history.count("\n") == 3  # header + 2 epochs, written once (rank 0)
    init = torch.load(model, weights_only=True)
    assert init["model_config"]["head_init"] == {"weight": 0.0, "bias": -10.0}
    moved = bool((ranks["head.bias"] != -10.0).any())
    assert moved  # the runs trained: the compared weights are not just the initial ones
