"""Freed CPU memory stays in the process when training asks for it (``samlab.train.allocator``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from samlab.data import prepare_digits
from samlab.train import loop, train

TOUCH = """
import resource, torch
from samlab.train.allocator import retain_freed_memory
if {retain}:
    assert retain_freed_memory()
def touch():
    ts = [torch.ones(1 << 20) for _ in range(12)]
    del ts
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_of_a_second_allocation(retain: bool) -> int:
    """Minor page faults when 12 tensors of 4 MB are allocated and touched again after being freed (in a
    child process: the setting is process-wide)."""
    out = subprocess.run(
        [sys.executable, "-c", TOUCH.format(retain=retain)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_retained_memory_serves_freed_tensors_without_page_faults():
    # glibc's defaults fault all 12 × 1024 pages in again (measured 12 285); retained memory at most about one
    # tensor's worth (measured 1 024)
    assert faults_of_a_second_allocation(retain=False) > 8 * 1024
    assert faults_of_a_second_allocation(retain=True) < 3 * 1024


@pytest.mark.parametrize("retain", [True, False])
def test_cpu_training_retains_freed_memory_unless_told_not_to(monkeypatch, retain):
    calls = []
    monkeypatch.setattr(loop, "retain_freed_memory", lambda: calls.append(1) or True)
    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    cfg = {"epochs": 1, "batch_size": 32, "progress": False, "device": "cpu", "retain_freed_memory": retain}
    train(data, {"name": "samlab_mlp"}, {"name": "sgd", "lr": 0.1}, cfg)
    assert calls == ([1] if retain else [])
