"""Preemption-safe checkpoints, each run in its own process: SIGTERM mid-epoch saves at the next update boundary
and exits with a message; SIGKILL mid-epoch loses only the updates since the last every-N-updates checkpoint;
resuming after both ends bit-identical (weights, BatchNorm buffers, history, logged curves) to an
uninterrupted run on CPU."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samlab.train import CheckpointStore
from tests.conftest import HANG_TIMEOUT
from tests.train.preempt_worker import main as run_in_process

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "tests" / "train" / "preempt_worker.py"


def start(out: Path, ckpt: Path, resume: bool, sig: str = "none", at: int = 0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out), str(ckpt), "1" if resume else "0", sig, str(at)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen, code: int = 0) -> str:
    output, _ = proc.communicate(timeout=HANG_TIMEOUT)
    assert proc.returncode == code, output[-5000:]
    return output


def steps(tsv: Path) -> list[int]:
    with open(tsv, newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f, delimiter="\t")]


@pytest.mark.slow
def test_sigterm_then_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_run(tmp_path):
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "victim"
    ref_dir.mkdir(), run_dir.mkdir()
    ckpt = run_dir / "ckpt"
    store = CheckpointStore(ckpt)

    # SIGTERM during update 13 (epoch 2 of 10-update epochs): the update finishes, is saved, the run exits 143
    victim = start(run_dir / "never.pt", ckpt, resume=True, sig="SIGTERM", at=13)
    run_in_process(str(ref_dir / "final.pt"), str(ref_dir / "ckpt"), "0", "none", "0")  # meanwhile, uninterrupted
    output = finish(victim, code=128 + signal.SIGTERM)
    assert "stopped on SIGTERM at update 13 (3/10 updates into epoch 2)" in output
    assert "rerun with `resume: true`" in output and "Traceback" not in output
    assert store.positions()[-1] == (1, 3) and store.file(1, 3).name == "epoch-0002-update-000003.pt"
    assert not (run_dir / "never.pt").exists()

    # resumed, then SIGKILLed during update 18: the every-4-updates checkpoint of update 16 is the newest
    proc = start(run_dir / "never.pt", ckpt, resume=True, sig="SIGKILL", at=18)
    output = finish(proc, code=-signal.SIGKILL)
    assert store.positions()[-1] == (1, 6)  # update 16 = 6 updates into epoch 2
    assert not (run_dir / "never.pt").exists()

    run_in_process(str(run_dir / "final.pt"), str(ckpt), "1", "none", "0")
    ref = torch.load(ref_dir / "final.pt", weights_only=True)
    res = torch.load(run_dir / "final.pt", weights_only=True)
    assert ref["state_dict"].keys() == res["state_dict"].keys()
    for key, value in ref["state_dict"].items():  # weights and BatchNorm buffers, bit for bit
        assert torch.equal(value, res["state_dict"][key]), key
    timing = ("epoch_time_s", "step_time_s", "images_per_s")
    assert [{k: v for k, v in r.items() if k not in timing} for r in res["history"]] == [
        {k: v for k, v in r.items() if k not in timing} for r in ref["history"]
    ]
    assert [{k: v for k, v in r.items() if k != "images_per_s"} for r in res["updates"]] == [
        {k: v for k, v in r.items() if k != "images_per_s"} for r in ref["updates"]
    ]
    # the live curves: every 3 updates, no gap, no repeat, across the two interruptions
    logged = run_dir / "logs" / "run" / "dvclive" / "plots" / "metrics"
    assert steps(logged / "train" / "loss.tsv") == [3, 6, 9, 12, 15, 18]
    assert steps(logged / "val" / "accuracy.tsv") == [10, 20]
    with open(logged / "train" / "loss.tsv", newline="") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f, delimiter="\t")]
    assert losses == [r["train_loss"] for r in ref["updates"]]
    assert not [f for f in ckpt.iterdir() if f.name.endswith(".tmp")]
