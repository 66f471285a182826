"""Shared fixtures: a throw-away copy of the Kedro project to run pipelines in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import samlab  # noqa: F401  - the torchvision guard, before anything imports timm

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Subprocess limit of the end-to-end tests: a guard against a hung process, not a speed limit (a busy 2-core
# machine can take many times the idle time); SAMLAB_TEST_HANG_TIMEOUT overrides it.
HANG_TIMEOUT = int(os.environ.get("SAMLAB_TEST_HANG_TIMEOUT", "7200"))


def copy_project(dest: Path) -> Path:
    """The project's code and configuration, without its data."""
    for name in ("pyproject.toml", ".telemetry"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for layer in (
        "01_raw",
        "02_intermediate",
        "03_primary",
        "04_feature",
        "05_model_input",
        "06_models",
        "07_model_output",
        "08_reporting",
    ):
        (dest / "data" / layer).mkdir(parents=True)
    return dest


@pytest.fixture
def one_torch_thread():
    """Tiny models run faster on one intra-op thread (no OpenMP spin contention on a small, shared CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


def kedro(project: Path, *args: str, timeout: int = HANG_TIMEOUT) -> subprocess.CompletedProcess:
    """Run the kedro CLI of this interpreter in ``project``; fail with its output if it fails."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"kedro {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc
