"""DDP and fp16 for the wrappers: one coalesced all-reduce per update, loss scaling without host reads.

DDP: every backward runs under ``model.no_sync()`` (each rank perturbs with its own gradient, as the
reference code does); ``all_reduce_mean`` averages the final gradients once per update, one collective
per (device, dtype) group of gradients (flattened into one temporary buffer, then copied back).

fp16: ``LossScaling`` wraps a ``torch.amp.GradScaler``. Both backward passes are scaled; the ascent
gradient is unscaled by multiplying with 1/scale as a device tensor, and a non-finite ascent gradient
is remembered as a device flag (no ``get_scale()``/``bool()`` per chunk). At ``step`` the flag poisons
one gradient element with NaN, so the scaler's own inf check — on every rank, after the all-reduce —
skips the whole update and backs the scale off. torch's ``GradScaler.step`` reads its inf flag on the
host once per update; that read is the scaler's, and the only one in an fp16 step.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


def no_sync(model: nn.Module):
    """Backward without DDP's per-bucket all-reduce: the wrapper averages once per update."""
    return model.no_sync() if hasattr(model, "no_sync") else nullcontext()


def autocast_ctx(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def world_size(process_group: Any = None) -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(process_group)
    return 1


def all_reduce_mean(grads: list[Tensor], process_group: Any = None) -> None:
    """Average ``grads`` in place over the ranks: one all-reduce per (device, dtype) group."""
    world = world_size(process_group)
    if world == 1 or not grads:
        return
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = defaultdict(list)
    for g in grads:
        groups[(g.device, g.dtype)].append(g)
    flats = [_flatten_dense_tensors(group) for group in groups.values()]
    works = [dist.all_reduce(f, group=process_group, async_op=True) for f in flats]
    for work, flat, group in zip(works, flats, groups.values()):
        work.wait()
        flat.mul_(1.0 / world)
        torch._foreach_copy_(group, list(_unflatten_dense_tensors(flat, group)))


class LossScaling:
    """fp16 loss scaling around ``torch.amp.GradScaler`` with the overflow flag kept on the device."""

    def __init__(self, scaler: torch.amp.GradScaler):
        self.scaler = scaler
        self.found: Tensor | bool = False  # a non-finite ascent gradient in this update (device flag)
        self._scales: tuple[Tensor, Tensor] | None = None

    def scale(self, loss: Tensor) -> Tensor:
        return self.scaler.scale(loss)

    def scale_tensor(self, device: torch.device | None = None) -> Tensor:
        """The current scale S as a 0-dim device tensor (before the first ``scale``, the scaler is set up
        on ``device``)."""
        if self.scaler._scale is None:
            self.scaler.scale(torch.zeros((), device=device))
        return self.scaler._get_scale_async()

    def unscale_(self, grads: list[Tensor]) -> Tensor:
        """grads ← grads / S in place; returns 1/S."""
        inv = 1.0 / self.scale_tensor()
        torch._foreach_mul_(grads, inv)
        return inv

    def note(self, norm: Tensor) -> Tensor:
        """Remember a non-finite norm; returns this chunk's flag."""
        bad = ~torch.isfinite(norm)
        self.found = bad if isinstance(self.found, bool) and not self.found else self.found | bad
        return bad

    @torch.no_grad()
    def poison_(self, grads: list[Tensor]) -> None:
        """If a pass overflowed, NaN into one gradient element (before the all-reduce): the scaler's own
        inf check then skips the update on every rank. No host read."""
        if isinstance(self.found, Tensor) and grads:
            first = grads[0]
            element = first[(0,) * first.dim()] if first.dim() else first  # a view, whatever the strides
            element.add_(torch.where(self.found, float("nan"), 0.0).to(first.dtype))

    @torch.no_grad()
    def step(self, base_optimizer: torch.optim.Optimizer) -> None:
        """Unscale and step, or skip (and back off) when a gradient is non-finite; update the scale."""
        before = self.scale_tensor().clone()
        self.scaler.step(base_optimizer)
        self.scaler.update()
        self._scales = (before, self.scale_tensor())
        self.found = False

    @property
    def last_step_skipped(self) -> bool:
        """Read lazily (one host read, only when asked): the scale went down at the last step."""
        if self._scales is None:
            return False
        before, after = self._scales
        return bool(after < before)

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scaler.load_state_dict(state)
