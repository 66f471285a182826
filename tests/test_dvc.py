"""DVC over the Kedro pipelines.

The fast tests read the repository's dvc.yaml and check it against the Kedro project (variants, parameter
keys, catalog outputs). The slow ones build a throw-away copy of the project with its own ``git init`` and
``dvc init``, tiny parameters (1 epoch of the small CNN), and run the real ``dvc`` CLI on it.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from samlab.pipeline_registry import run_parameters
from samlab.pipelines.variants import variant_names
from tests.conftest import HANG_TIMEOUT, REPO, copy_project

DVC_FILES = ("dvc.yaml", ".dvcignore", ".gitignore")


def _env(cwd: Path) -> dict[str, str]:
    """The stages' `kedro` is this interpreter's; the copy's own src is imported; no telemetry."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(cwd / "src"),
        "DVC_NO_ANALYTICS": "1",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


def run(cwd: Path, *args: str, timeout: int = HANG_TIMEOUT) -> str:
    """Run a command (``dvc`` means this interpreter's DVC) in ``cwd``; its stdout+stderr, or fail with it."""
    cmd = [sys.executable, "-m", "dvc", *args[1:]] if args[0] == "dvc" else list(args)
    proc = subprocess.run(cmd, cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{out[-8000:]}")
    return out


def ran(log: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", log))


def skipped(log: str) -> set[str]:
    return set(re.findall(r"Stage '([^']+)' didn't change, skipping", log))


def dvc_yaml(root: Path = REPO) -> dict:
    return yaml.safe_load((root / "dvc.yaml").read_text())


def variants(root: Path = REPO) -> list[str]:
    return variant_names(run_parameters("local", root / "conf"))


def stage_paths(stage: dict, item: str | None = None) -> list[str]:
    """Every output path a stage declares (outs, metrics, plots), ``${key}`` filled in."""
    paths = []
    for key in ("outs", "metrics", "plots"):
        for entry in stage.get(key, []):
            paths += list(entry) if isinstance(entry, dict) else [entry]
    return [p.replace("${key}", item) if item else p for p in paths]


def expanded_stages(root: Path = REPO) -> dict[str, tuple[dict, str | None]]:
    """Stage name (``training@sam`` for foreach stages) → (its definition, its variant)."""
    stages = {}
    for name, stage in dvc_yaml(root)["stages"].items():
        if "foreach" in stage:
            assert stage["foreach"] == "${variants}", f"{name}: foreach over the parameters' variant map"
            stages.update({f"{name}@{item}": (stage["do"], item) for item in variants(root)})
        else:
            stages[name] = (stage, None)
    return stages


# --- dvc.yaml against the project: these fail when a variant, parameter or output drifts ----------------------


def test_per_variant_stages_iterate_over_the_parameters_variant_map():
    assert dvc_yaml()["vars"] == ["conf/base/parameters_training.yml:variants"]
    listed = run(REPO, "dvc", "stage", "list", "--name-only").split()  # DVC's own expansion of the templates
    assert listed == list(expanded_stages()), listed
    assert {f"{s}@{v}" for s in ("training", "robustness", "transfer", "analysis") for v in variants()} <= set(listed)


def test_each_variant_stage_reads_only_its_own_variant():
    for name, (stage, item) in expanded_stages().items():
        text = json.dumps(stage)
        if item is None:
            assert "${key}" not in text, name
            continue
        assert "--namespaces ${key}" in stage["cmd"], name
        models = [d for d in stage["deps"] if d.startswith("data/06_models")]
        assert models in ([], ["data/06_models/${key}/model.pt"]), name
        keys = [k for e in stage.get("params", []) for ks in e.values() for k in ks if k.startswith("variants")]
        assert keys in ([], ["variants.${key}"]), name


def test_params_name_existing_keys_of_the_kedro_parameter_files():
    for name, (stage, item) in expanded_stages().items():
        for entry in stage.get("params", []):
            assert isinstance(entry, dict), f"{name}: params must name a conf/base file, not params.yaml"
            for path, keys in entry.items():
                assert path.startswith("conf/base/parameters"), (name, path)
                params = yaml.safe_load((REPO / path).read_text())
                for key in keys:
                    value = params
                    for part in key.replace("${key}", item or "").split("."):
                        assert isinstance(value, dict) and part in value, f"{name}: {key} not in {path}"
                        value = value[part]


def test_every_pipeline_output_is_declared_by_a_stage_that_runs_it(project, monkeypatch):
    """Each pipeline of ``__default__`` runs in stages (``kedro run --pipelines …``) whose outs cover every file
    its catalog entries write."""
    monkeypatch.chdir(project)
    from kedro.framework.project import configure_project, pipelines
    from kedro.framework.session import KedroSession

    configure_project("samlab")
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
        stages = expanded_stages()
        runs = {s: re.match(r"kedro run --pipelines ([a-z_,]+)\b", stage["cmd"]) for s, (stage, _) in stages.items()}
        assert all(runs.values()), {s: stages[s][0]["cmd"] for s, m in runs.items() if not m}
        for pipe_name, pipe in pipelines.items():
            if pipe_name in ("__default__", "study"):
                continue
            mine = {s: stages[s] for s, m in runs.items() if pipe_name in m.group(1).split(",")}
            assert mine, f"pipeline {pipe_name!r} has no DVC stage in dvc.yaml (docs/dvc.md)"
            declared = {p for stage, item in mine.values() for p in stage_paths(stage, item)}
            for ds in sorted(pipe.all_outputs()):
                dataset = catalog.get(ds)
                filepath = dataset._describe().get("filepath") if dataset is not None else None
                if filepath is None:
                    continue  # a memory dataset between nodes
                rel = Path(str(filepath)).resolve().relative_to(project.resolve()).as_posix()
                covered = any(rel == d or rel.startswith(d + "/") for d in declared)  # a file, or in a folder out
                assert covered, f"{pipe_name}: output {ds} ({rel}) is not an out of a stage that runs it"


# --- the real CLI on a throw-away git + DVC repository ------------------------------------------------------

TINY = {"model": {"name": "samlab_cnn"}, "training": {"epochs": 1, "warmup_epochs": 0}}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, str]:
    """A git + DVC copy of the project, tiny parameters, committed; and the log of its first ``dvc repro``."""
    root = tmp_path_factory.mktemp("dvc") / "project"
    root.mkdir()
    copy_project(root)
    for keep in [root / "conf" / "local", *(root / "data").iterdir()]:  # the folder skeleton, as in the repository:
        (keep / ".gitkeep").touch()  # clones need conf/local (kedro) and data/01_raw (a dependency)
    run(root, "git", "init", "-q")
    run(root, "dvc", "init", "-q")
    for name in DVC_FILES:
        shutil.copy2(REPO / name, root / name)
    params_file = root / "conf" / "base" / "parameters_training.yml"
    params = yaml.safe_load(params_file.read_text())
    for block, values in TINY.items():
        params[block].update(values)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    run(root, "git", "add", "-A")
    run(root, "git", "add", "-f", "conf/local/.gitkeep")
    assert "data/01_raw/.gitkeep" in run(root, "git", "ls-files")
    run(root, "git", "commit", "-q", "-m", "project")
    return root, run(root, "dvc", "repro")


def outputs(root: Path) -> list[Path]:
    return [root / p for stage, item in expanded_stages(root).values() for p in stage_paths(stage, item)]


@pytest.mark.slow
def test_repro_runs_every_stage_once_then_nothing(repo):
    root, first = repo
    assert (
        ran(first)
        == set(expanded_stages(root))
        == {
            "data_preparation",
            "reporting",
            *(f"{s}@{v}" for s in ("training", "robustness", "transfer", "analysis") for v in ("sgd", "sam")),
        }
    )
    assert all(p.stat().st_size > 0 for p in outputs(root))
    again = run(root, "dvc", "repro")
    assert ran(again) == set() and "Data and pipelines are up to date" in again, again
    assert json.loads(run(root, "dvc", "status", "--json")) == {}


@pytest.mark.slow
def test_changing_one_rho_reruns_only_that_variant_and_the_report(repo):
    root, _ = repo
    sgd_model = (root / "data/06_models/sgd/model.pt").read_bytes()
    sam_model = (root / "data/06_models/sam/model.pt").read_bytes()
    params_file = root / "conf" / "base" / "parameters_training.yml"
    params = yaml.safe_load(params_file.read_text())
    params["variants"]["sam"]["optimizer"]["rho"] = 0.2
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))

    status = json.loads(run(root, "dvc", "status", "--json"))
    assert set(status) == {"training@sam"}, status
    assert "conf/base/parameters_training.yml" in json.dumps(status["training@sam"])
    log = run(root, "dvc", "repro")
    assert ran(log) == {"training@sam", "robustness@sam", "transfer@sam", "analysis@sam", "reporting"}, log
    assert skipped(log) == {"data_preparation", "training@sgd", "robustness@sgd", "transfer@sgd", "analysis@sgd"}, log
    assert (root / "data/06_models/sgd/model.pt").read_bytes() == sgd_model
    assert (root / "data/06_models/sam/model.pt").read_bytes() != sam_model
    history = (root / "data/07_model_output/sam/history.csv").read_text().splitlines()
    rho = history[0].split(",").index("rho")
    assert float(history[1].split(",")[rho]) == pytest.approx(0.2)
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert (
        lock["stages"]["training@sam"]["params"]["conf/base/parameters_training.yml"]["variants.sam"]["optimizer"][
            "rho"
        ]
        == 0.2
    )
    metrics = json.loads(run(root, "dvc", "metrics", "show", "--json"))
    assert json.dumps(metrics).count("test_accuracy") == len(variants(root)), metrics
    shown = run(root, "dvc", "metrics", "show")  # the table a user reads: numbers only, no names or counts
    values = [v for line in shown.splitlines()[1:] for v in line.split()[1:]]
    assert values and all(re.fullmatch(r"-?[0-9.e+-]+", v) for v in values), shown


@pytest.mark.slow
def test_push_then_pull_into_a_fresh_clone_restores_outputs_byte_for_byte(repo, tmp_path):
    root, _ = repo
    run(root, "dvc", "repro")  # whatever state the earlier tests left, up to date and committed
    remote = tmp_path / "remote"
    run(root, "dvc", "remote", "add", "-d", "local", str(remote))
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "results")
    tracked = run(root, "git", "ls-files").splitlines()
    assert "dvc.lock" in tracked, tracked
    assert {f for f in tracked if f.startswith("data/")} == {
        f"{p.relative_to(root)}/.gitkeep" for p in (root / "data").iterdir()
    }
    run(root, "dvc", "push")
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(root), str(clone))
    assert not [p for p in (clone / "data").rglob("*") if p.is_file() and p.name != ".gitkeep"]
    run(clone, "dvc", "pull")
    files = outputs(root)
    # prepared data; per variant: training 5 (2 DVCLive), robustness 1, transfer 1, analysis 4; their summary
    # tables 3 + 1 + 4; reporting 17
    assert len(files) == 1 + (5 + 1 + 1 + 4) * len(variants(root)) + (3 + 1 + 4) + 17
    for src in files:
        for f in sorted(src.rglob("*")) if src.is_dir() else [src]:  # DVCLive's plots are a folder of TSVs
            dst = clone / f.relative_to(root)
            assert f.is_dir() or filecmp.cmp(f, dst, shallow=False), dst
    assert json.loads(run(clone, "dvc", "status", "--json")) == {}
