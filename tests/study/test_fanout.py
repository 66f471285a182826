"""Members give bit-identical rows and trajectories whichever executor runs them: sequential vs spawned
processes here; a Dask LocalCluster of 2 worker processes in tests/pipelines/test_analysis_study.py."""

import pandas as pd
import pytest

from samlab.study import feature_population, run_members, tau_population

STUDY = {
    "data": {
        "name": "digits",
        "image_size": 8,
        "in_chans": 1,
        "seed": 0,
        "split": {"train": 0.5, "val": 0.1, "test": 0.4},
    },
    "model": {"name": "samlab_mlp", "hidden": 16, "depth": 1},
    "training": {"epochs": 1, "batch_size": 32, "device": "cpu", "progress": False},
    "optimizer_defaults": {"lr": 0.05, "momentum": 0.9, "rho": 0.1},
    "perturbations": {"sam": {"name": "sam"}},
    "perturbation_batch_sizes": [8, 32],
    "seeds": [0, 1],
    "forgetting_every": 5,
    "measure": {
        "subset": {"size": 32},
        "hessian": {"iterations": 2},
        "trace": {"samples": 1},
        "m_sharpness": {"m": 16},
        "adaptive_sharpness": {"m": 16},
    },
}


def _same(a, b):
    assert [r.name for r in a] == [r.name for r in b]
    for x, y in zip(a, b):
        assert x.row.keys() == y.row.keys()
        for k in x.row:
            assert x.row[k] == y.row[k] or (x.row[k] != x.row[k] and y.row[k] != y.row[k]), (x.name, k)
        pd.testing.assert_frame_equal(x.tables["forgetting"], y.tables["forgetting"], check_exact=True)


@pytest.mark.slow
def test_process_pool_matches_a_sequential_run():
    members = tau_population(STUDY)[:2]
    sequential = run_members(members, "sequential")
    assert [r.name for r in sequential] == [m.name for m in members]  # population order, not start order
    assert sequential[0].row["forgetting_steps"] > 0 and 0 < sequential[0].row["test_accuracy"] <= 1
    _same(sequential, run_members(members, "process", workers=2))


def test_bad_runner_settings_fail_before_any_work():
    members = tau_population(STUDY)
    with pytest.raises(ValueError, match="unknown executor"):
        run_members(members, "threads")
    with pytest.raises(ValueError, match="unique"):
        run_members(members + members[:1], "sequential")
    fs = {**STUDY, "data": {"name": "toy"}, "optimizers": {"sam": {"name": "sam"}}, "rhos": [0.1]}
    assert len(feature_population("toy", fs)) == 4
