"""``StepStats``: what one ``forward_backward`` saw, read lazily.

Why lazy: the losses, ‖e‖ and the fp16 overflow flag are 0-dim tensors on the device. Turning each into a
Python number stops the host until the device catches up; the step itself never does it. A statistic
becomes a number only when someone reads it (``stats.loss``), and ``as_floats()`` reads them all with one
transfer. A training loop that logs every N updates keeps ``stats.tensor("loss")`` on the device and reads
once per N (docs/optimizers.md, "Host synchronisation").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

_MISSING = object()
LAZY_FIELDS = ("loss", "perturbed_loss", "perturbation_norm", "rho", "ascent_loss", "overflow")


class _Lazy:
    """A dataclass field that stores what it is given (a number or a 0-dim tensor) and converts a tensor to
    ``kind`` (float/bool) on first read, caching the number."""

    def __init__(self, default: Any = _MISSING, kind: type = float):
        self.default, self.kind = default, kind

    def __set_name__(self, owner: type, name: str) -> None:
        self.private = "_lazy_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:  # the dataclass asks for the default
            if self.default is _MISSING:
                raise AttributeError(self.private)
            return self.default
        value = obj.__dict__[self.private]
        if isinstance(value, Tensor):
            value = self.kind(value)
            obj.__dict__[self.private] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.private] = value


@dataclasses.dataclass
class StepStats:
    """What one ``forward_backward`` saw: the training loop and the analysis hooks read these.

    The scalar fields read as Python numbers (converted on first read); ``tensor(name)`` gives the
    unread device value and ``as_floats()`` all numbers with a single device→host transfer.
    """

    loss: float = _Lazy()  # clean training loss at w (mean over the micro-batch)
    logits: Tensor = None  # clean outputs at w, detached
    perturbed_loss: float | None = _Lazy(None)  # training loss at w + e
    perturbation_norm: float | None = _Lazy(None)  # ‖e‖, global L2 (mean over chunks)
    rho: float | None = _Lazy(None)
    perturbed_logits: Tensor | None = None  # outputs at w + e (return_outputs=True)
    ascent_loss: float | None = _Lazy(None)  # P, the loss the perturbation climbs (SAM: = loss; OBF: surrogate S)
    perturbations: list[list[Tensor]] | None = None  # e per chunk (return_perturbation=True)
    overflow: bool = _Lazy(False, bool)  # fp16: a pass was non-finite, the update will be skipped
    targets: Tensor | None = None  # the micro-batch's labels (set by the training loop for on_step callbacks)

    def raw(self, name: str) -> Any:
        """The stored value of a scalar field, unconverted (a 0-dim tensor, a number or None)."""
        if name not in LAZY_FIELDS:
            raise KeyError(f"{name!r} is not a scalar statistic; known: {LAZY_FIELDS}")
        return self.__dict__["_lazy_" + name]

    def tensor(self, name: str) -> Tensor | None:
        """A scalar field as a 0-dim tensor without reading it to the host (None stays None)."""
        value = self.raw(name)
        if value is None or isinstance(value, Tensor):
            return value
        return torch.tensor(float(value), dtype=torch.float64)

    def as_floats(self) -> dict[str, float | bool | None]:
        """Every scalar field as a number, with one device→host transfer for all unread tensors."""
        pending = [(n, v) for n in LAZY_FIELDS if isinstance(v := self.raw(n), Tensor)]
        if pending:
            device = pending[0][1].device
            values = torch.stack([v.detach().to(device=device, dtype=torch.float64) for _, v in pending]).tolist()
            for (name, _), value in zip(pending, values):
                kind = bool if name == "overflow" else float
                self.__dict__["_lazy_" + name] = kind(value)
        return {n: getattr(self, n) for n in LAZY_FIELDS}
