"""A run killed with SIGKILL mid-epoch and rerun with ``resume: true`` loses at most that epoch and ends
with bit-identical weights to an uninterrupted run (CPU, fixed seed; each run in its own process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from samlab.train import CheckpointStore
from tests.conftest import HANG_TIMEOUT

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "tests" / "train" / "resume_worker.py"


def start(out: Path, ckpt: Path, resume: bool) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out), str(ckpt), "1" if resume else "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate(timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, output[-5000:]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path):
    reference = start(tmp_path / "reference.pt", tmp_path / "ref_ckpt", resume=False)  # runs alongside
    victim_ckpt = tmp_path / "ckpt"
    victim = start(tmp_path / "never.pt", victim_ckpt, resume=True)
    store = CheckpointStore(victim_ckpt, keep=None)
    deadline = time.monotonic() + 240
    while not store.epochs():  # wait for epoch 1's checkpoint, then kill inside epoch 2
        assert victim.poll() is None, victim.communicate()[0][-5000:]
        assert time.monotonic() < deadline, "the run never finished epoch 1"
        time.sleep(0.02)
    time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.pt").exists()
    done = store.epochs()[-1]
    assert 1 <= done < 3  # killed inside epoch 2 (or, on a very slow machine, 3): only that epoch is lost
    killed_history = store.latest()["history"]

    resumed = start(tmp_path / "resumed.pt", victim_ckpt, resume=True)
    finish(resumed)
    finish(reference)
    ref = torch.load(tmp_path / "reference.pt", weights_only=True)
    res = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert ref["state_dict"].keys() == res["state_dict"].keys()
    for key, value in ref["state_dict"].items():  # weights and BatchNorm buffers, bit for bit
        assert torch.equal(value, res["state_dict"][key]), key
    assert [r["epoch"] for r in res["history"]] == [1, 2, 3]
    assert res["history"][:done] == killed_history  # the finished epochs were kept, not retrained
    for a, b in zip(ref["history"], res["history"]):
        assert (a["train_loss"], a["val_loss"], a["lr"]) == (b["train_loss"], b["val_loss"], b["lr"])
