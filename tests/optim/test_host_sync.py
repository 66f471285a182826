"""No device→host read inside ``forward_backward`` + ``step`` when no statistic is read.

On a GPU every read (``.item()``, ``float(t)``, ``bool(t)``, ``.tolist()``, ``.cpu()`` …) stops the host
until the device has caught up. On the CPU the same calls are made by the same code, so counting them
here catches a read that would stall a GPU step. Reading a statistic afterwards is one transfer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samlab.optim import create_optimizer

READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__", "__complex__")


@pytest.fixture
def count_reads(monkeypatch):
    counts: dict[str, int] = {}

    def patch(name):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)

    for name in READS:
        patch(name)
    return counts


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.body(x))


CASES = {
    "sgd": ("sgd", {}),
    "sam": ("sam", {}),
    "asam": ("asam", {}),
    "asam_after": ("asam", {"adaptive": "after"}),
    "gsam": ("gsam", {}),
    "gsam_asam_both": ("gsam", {"adaptive": "both"}),
    "gsam_normalized": ("gsam", {"gsam_backup": "normalized"}),
    "obf": ("obf", {}),
    "randsam": ("randsam", {}),
    "lsam": ("lsam", {"perturb": ["head."]}),
    "m_sharpness": ("sam", {"perturbation_batch_size": 4}),
    "accumulation": ("gsam", {"perturbation_batch_size": 4, "accum_steps": 2}),
    "clipping_shrink_perturb": (
        "sam",
        {"max_grad_norm": 1.0, "shrink_perturb": 1e-3, "base": "sgdw", "weight_decay": 0.1},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_step_reads_nothing_from_the_device(case, count_reads):
    name, cfg = CASES[case]
    cfg = dict(cfg)
    accum = cfg.pop("accum_steps", 1)
    torch.manual_seed(0)
    model = Net()
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, **cfg)
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))

    def update():
        stats = []
        for xb, yb in zip(x.chunk(accum), y.chunk(accum)):
            stats.append(opt.forward_backward(model, xb, yb, nn.functional.cross_entropy, accum_steps=accum))
        opt.step()
        return stats

    update()  # first update: lazily created state (momentum buffers)
    count_reads.clear()
    stats = update()
    assert count_reads == {}, f"{case}: host reads during the step: {count_reads}"
    # reading the statistics afterwards works, and as_floats() reads them in one transfer
    values = stats[-1].as_floats()
    assert count_reads == {"tolist": 1}, count_reads
    assert values["loss"] > 0 and stats[-1].loss == values["loss"]
    assert not stats[-1].overflow and not opt.last_step_skipped
