"""One tiny default run shared by the report, notebook and kedro-viz tests (session-scoped: ~1 min once).

``default_run``: a project copy after ``kedro run`` (2 epochs of the small CNN: what the tests need is the
outputs' shape, not their accuracy). ``full_report``: a copy of it whose ``conf/local`` declares every table the
reporting pipeline can draw, filled with hand-made rows in the documented schemas (except ``obf_sweep``,
declared but never written), then ``kedro run --pipelines reporting``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import copy_project, kedro

DEFAULT_RUN_PARAMS = "training.epochs=2,model.name=samlab_cnn"
MISSING_TABLE = "obf_sweep"


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("default_run"))
    kedro(project, "run", "--params", DEFAULT_RUN_PARAMS)
    return project


def handmade_tables(models: list[str]) -> dict[str, pd.DataFrame]:
    """Small tables in the schemas of ``samlab.pipelines.reporting.TABLES``, for the given models."""
    rng = np.random.default_rng(0)
    corruptions = ["gaussian_noise", "defocus_blur", "contrast"]
    robustness = [
        {"model": m, "test_set": "test", "corruption": "none", "severity": 0, "accuracy": 0.9 - 0.05 * i}
        for i, m in enumerate(models)
    ]
    robustness += [
        {
            "model": m,
            "test_set": "test",
            "corruption": c,
            "severity": s,
            "accuracy": 0.9 - 0.05 * i - 0.1 * s + 0.02 * j,
        }
        for i, m in enumerate(models)
        for j, c in enumerate(corruptions)
        for s in range(1, 6)
    ]
    robustness += [
        {"model": m, "test_set": "dominoes_hard", "corruption": "none", "severity": 0, "accuracy": 0.6 + 0.1 * i}
        for i, m in enumerate(models)
    ]
    population = [f"p{k}" for k in range(12)]
    acc = np.linspace(0.7, 0.9, 12)
    study = pd.DataFrame(
        [
            {
                "model": p,
                "accuracy": a,
                "metric": metric,
                "value": v,
                "perturbation": ["sam", "obf"][k % 2],
                "m": 2 ** (k % 4),
            }
            for k, (p, a) in enumerate(zip(population, acc))
            for metric, v in (
                ("top_eigenvalue", 50 - 40 * a + rng.normal(0, 1)),
                ("output_kl", a + rng.normal(0, 0.01)),
            )
        ]
    )
    fraction = np.linspace(0, 1, 21)
    return {
        "robustness_accuracy": pd.DataFrame(robustness),
        "robustness_mce": pd.DataFrame({"model": models, "mce": [1.0 - 0.1 * i for i in range(len(models))]}),
        "transfer_accuracy": pd.DataFrame(
            [
                {"model": m, "target": "digits_parity", "method": meth, "accuracy": 0.8 + 0.05 * i}
                for i, m in enumerate(models)
                for meth in ("finetune", "linear_probe")
            ]
        ),
        "study_models": study,
        "study_correlation": pd.DataFrame(
            {"metric": ["top_eigenvalue", "output_kl"], "tau": [-0.6, 0.7], "p_value": [0.01, 0.004]}
        ),
        "study_tau_vs_m": pd.DataFrame(
            [
                {"metric": metric, "m": m, "tau": t, "p_value": p}
                for metric, sign in (("top_eigenvalue", -1), ("output_kl", 1))
                for m, t, p in ((1, 0.6, 0.01), (4, 0.4, 0.03), (16, 0.1, 0.5))
                for t in [sign * t]
            ]
        ),
        "balance_lorenz": pd.DataFrame(
            [
                {"variant": m, "weights": kind, "fraction": f, "cumulative_share": f**power}
                for m in models
                for kind, power in (("real", 3.0), ("phantom", 1.5))
                for f in fraction
            ]
        ),
        "probe_accuracy": pd.DataFrame(
            [
                {"variant": f"rho{r}", "rho": r, "feature": feat, "accuracy": acc_}
                for r in (0.0, 0.05, 0.1, 0.2)
                for feat, acc_ in (("easy", 0.99), ("hard", 0.6 + r))
            ]
        ),
        "lr_rescaling_factors": pd.DataFrame(
            [{"variant": "lsam", "feature": j, "factor": 1 + 0.1 * np.sin(j)} for j in range(16)]
        ),
        "feature_balance_trajectory": pd.DataFrame(
            [
                {
                    "variant": f"{m}_s0",
                    "step": 10 * k,
                    "gini_real": 0.5 + 0.02 * k,
                    "gini_phantom": 0.45 + 0.02 * k if m != "sgd" else np.nan,
                }
                for m in models
                for k in range(1, 6)
            ]
        ),
    }


@pytest.fixture(scope="session")
def full_report(default_run, tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("full_report")
    shutil.rmtree(project)
    shutil.copytree(default_run, project)
    folder = project / "data" / "07_model_output" / "handmade"
    folder.mkdir()
    entries = []
    for name, table in handmade_tables(["sgd", "sam"]).items():
        table.to_csv(folder / f"{name}.csv", index=False)
    for name in [*handmade_tables(["x"]), MISSING_TABLE]:
        entries.append(f"{name}:\n  type: pandas.CSVDataset\n  filepath: data/07_model_output/handmade/{name}.csv\n")
    (project / "conf" / "local" / "catalog.yml").write_text("\n".join(entries))
    kedro(project, "run", "--pipelines", "reporting")
    return project
