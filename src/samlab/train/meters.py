"""Sums of training statistics that stay on the device until read: no host sync per update.

``StepStats`` fields may be Python floats or 0-dim tensors (possibly on the GPU). Adding them up with
plain arithmetic keeps tensors as tensors (the GPU queues the additions), and ``read()`` turns every sum
into a float with one transfer; the loop reads only every ``every_n_updates`` updates and at epoch ends.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

Number = float | Tensor


def _wide(value: Number) -> Number:
    """Detached, in float64 where the device has it (sums over an epoch keep their digits)."""
    if isinstance(value, Tensor):
        value = value.detach()
        return value if value.device.type == "mps" else value.to(torch.float64)
    return float(value)


def read_values(values: list[Number]) -> list[float]:
    """Floats of ``values``; the tensors among them come over in one transfer."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        return [float(v) for v in values]
    host = iter(
        torch.stack(
            [t.reshape(()).to(torch.float64 if t.device.type != "mps" else torch.float32) for t in tensors]
        ).tolist()
    )
    return [next(host) if isinstance(v, Tensor) else float(v) for v in values]


class Sums:
    """Named running sums (floats or device tensors) and, for the non-finite check, the per-update losses."""

    def __init__(self, keys: tuple[str, ...], state: dict[str, float] | None = None):
        self.keys = keys
        self.values: dict[str, Number] = {k: 0.0 for k in keys}
        if state:
            self.values.update({k: float(v) for k, v in state.items() if k in self.values})

    def add(self, key: str, value: Number | None, weight: float = 1.0) -> None:
        if value is not None:
            self.values[key] = self.values[key] + _wide(value) * weight

    def read(self) -> dict[str, float]:
        """Every sum as a float (one device→host transfer); the sums continue from the floats read."""
        floats = dict(zip(self.keys, read_values([self.values[k] for k in self.keys])))
        return floats

    def reset(self) -> None:
        self.values = {k: 0.0 for k in self.keys}


class PendingLosses:
    """Per-update (update, clean loss, perturbed loss) kept until the next read, to name the first non-finite one."""

    def __init__(self):
        self.items: list[tuple[int, Number, Number | None]] = []

    def add(self, update: int, loss: Number, perturbed: Number | None) -> None:
        if isinstance(loss, Tensor) or isinstance(perturbed, Tensor):
            self.items.append(
                (
                    update,
                    loss.detach() if isinstance(loss, Tensor) else loss,
                    perturbed.detach() if isinstance(perturbed, Tensor) else perturbed,
                )
            )
        elif not math.isfinite(loss) or (perturbed is not None and not math.isfinite(perturbed)):
            self.items.append((update, loss, perturbed))  # floats: checked now, reported at the next read
            self.check()  # raises at once: a float costs no sync

    def check(self) -> None:
        """Raise ``NonFiniteLoss`` naming the first update with a non-finite loss since the last call (one transfer)."""
        items, self.items = self.items, []
        if not items:
            return
        flat: list[Any] = []
        for _, loss, perturbed in items:
            flat += [loss, math.nan if perturbed is None else perturbed]
        values = read_values(flat)
        for i, (update, _, perturbed) in enumerate(items):
            loss_v, pert_v = values[2 * i], values[2 * i + 1]
            if not math.isfinite(loss_v) or (perturbed is not None and not math.isfinite(pert_v)):
                raise NonFiniteLoss(update, loss_v, None if perturbed is None else pert_v)


class NonFiniteLoss(FloatingPointError):
    def __init__(self, update: int, loss: float, perturbed: float | None):
        super().__init__(f"non-finite training loss (clean {loss}, perturbed {perturbed}) at update {update}")
        self.update, self.loss, self.perturbed = update, loss, perturbed
