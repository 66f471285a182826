"""Kedro environments that switch data set, model and recipe: they load, and without the real files the
data preparation fails with the missing-file error (the files cannot be downloaded here)."""

import os
import subprocess
import sys

import pytest
from kedro.config import OmegaConfigLoader

from samlab.data import MissingRawFileError
from samlab.pipelines.data_preparation.nodes import prepare_data
from samlab.pipelines.variants import variant_names
from tests.conftest import HANG_TIMEOUT, REPO

ENVS = {
    # env: (data set, file named in the error, model, epochs, global batch, sam rho)
    "vit_s32": (
        "image_folder",
        r"data/01_raw/imagenet/train \(split 'train'\) not found",
        "vit_small_patch32_224",
        300,
        4096,
        0.6,
    ),
    "resnet50": ("image_folder", r"data/01_raw/imagenet/train \(split 'train'\) not found", "resnet50", 90, 4096, 0.04),
}


def env_parameters(env: str) -> dict:
    loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), base_env="base", default_run_env="local", env=env)
    return dict(loader["parameters"])


@pytest.mark.parametrize("env", sorted(ENVS))
def test_env_switches_data_model_and_recipe_and_names_the_missing_file(env, tmp_path, monkeypatch):
    name, missing, model, epochs, batch, rho = ENVS[env]
    params = env_parameters(env)
    assert params["data"]["name"] == name and params["model"]["name"] == model
    assert params["training"]["epochs"] == epochs
    assert params["training"]["batch_size"] * params["training"]["accum_steps"] == batch
    assert f"{env}_sam" in variant_names(params) and params["variants"][f"{env}_sam"]["optimizer"]["rho"] == rho
    monkeypatch.chdir(tmp_path)  # relative raw paths resolve against the project root kedro runs in
    with pytest.raises(MissingRawFileError, match=missing):
        prepare_data(params["data"])
    assert list(tmp_path.iterdir()) == []


def test_base_stays_on_embedded_digits():
    assert env_parameters("local")["data"]["name"] == "digits"


@pytest.mark.slow
def test_kedro_run_with_env_fails_clearly_without_the_archive(project):
    proc = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "data_preparation"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=HANG_TIMEOUT,
        env={**os.environ, "COLUMNS": "300", "KEDRO_DISABLE_TELEMETRY": "true", "KEDRO_ENV": "resnet50"},
    )
    assert proc.returncode != 0
    out = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines
    assert "MissingRawFileError" in out and "data/01_raw/imagenet/train (split 'train') not found" in out
    assert not (project / "data" / "05_model_input" / "prepared.safetensors").exists()
