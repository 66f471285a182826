"""The benchmark scripts' CPU-side paths run (so the GPU check cannot rot unseen), and the benchmark's
per-parameter-loop peer computes samlab's SAM/ASAM step (the timings compare the same maths)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
gpu_steps = pytest.importorskip("gpu_steps")
optim_step = pytest.importorskip("optim_step")  # needs pytorch-optimizer (the bench extra)


def test_gpu_steps_quick_run_prints_every_table(capsys, monkeypatch):
    monkeypatch.setattr(gpu_steps, "VARIANTS", {"sgd": {}, "sam": {"rho": 0.05}})
    monkeypatch.setattr(gpu_steps.timm, "create_model", lambda name, num_classes: _tiny(num_classes))
    gpu_steps.main(["--device", "cpu", "--quick"])
    out = capsys.readouterr().out
    for row in (
        "| fp32 | sam |",
        "| bf16 | sam |",
        "| fp16 + GradScaler | sam |",
        "| bf16 channels_last | sam |",
        "share producing batches",
    ):
        assert row in out, row


def _tiny(num_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=4),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, num_classes),
    )


@pytest.mark.parametrize(
    ("impl", "samlab"),
    [("loop sam", "samlab sam"), ("loop asam", "samlab asam"), ("pytorch_optimizer gsam", "samlab gsam")],
)
def test_benchmark_peers_compute_samlabs_step(impl, samlab):
    torch.manual_seed(0)
    models = [_tiny(3).double() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    x, y = torch.randn(8, 3, 16, 16, dtype=torch.float64), torch.randint(0, 3, (8,))
    for name, model in zip((impl, samlab), models):
        step, _ = optim_step.build(name, model)
        step(x, y)
    bound = 1e-5 if impl.startswith("pytorch_optimizer") else 1e-12
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, atol=bound * float(b.detach().abs().max()), rtol=0)


@pytest.mark.parametrize(
    "script", ["optim_step.py", "gpu_steps.py", "data_loader.py", "study_fanout.py", "training_throughput.py"]
)
def test_benchmark_script_starts_in_a_fresh_interpreter(script):
    """Run as `python benchmarks/<script>`, samlab's torchvision guard must load before timm (docs/install.md);
    inside pytest samlab is already imported, so only a fresh interpreter shows the import order."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / script), "--help"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage" in proc.stdout


def test_training_throughput_writes_nothing_into_the_pipelines_data():
    """A measurement trains with the pipeline's live-metrics logging, into its own temporary folder: files the
    pipeline and DVC own under data/07_model_output are neither created nor touched."""
    root = Path(__file__).resolve().parents[2]
    out = root / "data" / "07_model_output"

    def snapshot():
        return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    before = snapshot()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "training_throughput.py"), "--child", "sgd", "--epochs", "1"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["images_per_s"] > 0
    assert snapshot() == before
