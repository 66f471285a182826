"""DDP on CPU: two gloo processes started by torchrun (torch elastic), through ``samlab.train.train``.

What the maths says: each rank takes its half of the global batch; gradients are averaged once per
update (inside ``opt.step()``, samlab.optim). For plain SGD that is the gradient of the whole batch, so
2 ranks = 1 process on the concatenated batch. For SAM each rank perturbs with its *own* half-batch
gradient, which is exactly single-process SAM with perturbation batch size m = the per-rank batch
(docs/science.md §1) — and not full-batch SAM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samlab.train import train
from tests.conftest import HANG_TIMEOUT
from tests.train.ddp_worker import tiny_digits

REPO = Path(__file__).resolve().parents[2]
TRAIN = {"epochs": 2, "batch_size": 32, "warmup_epochs": 0, "progress": False}  # 2 x 4 updates
SGD = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}
SAM = {"name": "sam", "lr": 0.1, "momentum": 0.9, "rho": 0.1}
LOGGED = {**TRAIN, "logging": {"every_n_updates": 2, "dir": "logs/{name}"}}  # relative to the run's folder


@pytest.fixture(scope="module")
def ddp_dir(tmp_path_factory) -> Path:
    """One torchrun of 2 gloo ranks training SGD then SAM, in this folder (results, live-metrics logs)."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(REPO / "tests" / "train" / "ddp_worker.py"),
            str(out),
            json.dumps([SGD, SAM]),
            json.dumps(LOGGED),
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return out


@pytest.fixture(scope="module")
def ddp_runs(ddp_dir) -> list[list[dict]]:
    """``runs[i][rank]``: the results of optimizer i on each rank."""
    return [[torch.load(ddp_dir / f"rank{r}_{i}.pt", weights_only=True) for r in range(2)] for i in range(2)]


def single_process(optimizer: dict) -> dict:
    torch.set_num_threads(1)
    return train(tiny_digits(), {"name": "samlab_mlp"}, optimizer, TRAIN).checkpoint["state_dict"]


def assert_same(a: dict, b: dict, exact: bool) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=lambda m, k=k: f"{k}: {m}")


def differs(a: dict, b: dict) -> bool:
    return any(not torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in a)


@pytest.mark.slow
def test_two_ranks_sgd_equal_one_process_on_the_whole_batch(ddp_runs):
    r0, r1 = ddp_runs[0]
    assert r0["world_size"] == 2
    assert_same(r0["state_dict"], r1["state_dict"], exact=True)  # both ranks hold identical weights
    assert_same(r0["state_dict"], single_process(SGD), exact=False)
    # the history is global (summed over ranks), identical on both ranks
    assert r0["history"][-1]["train_loss"] == r1["history"][-1]["train_loss"]


@pytest.mark.slow
def test_two_ranks_sam_equal_one_process_sam_with_m_per_rank(ddp_runs):
    r0, r1 = ddp_runs[1]
    assert_same(r0["state_dict"], r1["state_dict"], exact=True)
    per_rank = TRAIN["batch_size"] // 2
    assert_same(r0["state_dict"], single_process({**SAM, "perturbation_batch_size": per_rank}), exact=False)
    assert differs(r0["state_dict"], single_process(SAM))  # the per-rank perturbation matters
    assert r0["history"][-1]["perturbed_loss"] > 0 and r0["history"][-1]["rho"] == pytest.approx(0.1)


@pytest.mark.slow
def test_only_rank_zero_logs_live_metrics(ddp_dir, ddp_runs):
    import csv

    for i in range(2):
        with open(
            ddp_dir / "logs" / f"ddp{i}" / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv", newline=""
        ) as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]  # one writer: no step twice
        # rank 0's own half-batch losses, as its result's update rows say
        assert [float(r["loss"]) for r in rows] == [u["train_loss"] for u in ddp_runs[i][0]["updates"]]
