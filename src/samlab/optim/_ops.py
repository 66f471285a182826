"""Small foreach helpers shared by the step, ASAM and GSAM (no per-tensor Python loops)."""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor

EPS = 1e-12


def global_norm(tensors: list[Tensor]) -> Tensor:
    """One L2 norm over all tensors (0-dim, float32 — float64 for float64 parameters; no host sync)."""
    if not tensors:
        return torch.zeros(())
    dtype = torch.float64 if tensors[0].dtype == torch.float64 else torch.float32  # fp16/bf16 norms in fp32
    norms = torch._foreach_norm(tensors, 2, dtype=dtype)
    device = norms[0].device
    if any(n.device != device for n in norms):  # parameters spread over devices (rare)
        norms = [n.to(device) for n in norms]
    return torch.linalg.vector_norm(torch.stack(norms))


def flat_norm(flats: list[Tensor]) -> Tensor:
    """``global_norm`` over flat buffers: one reduction kernel per buffer."""
    dtype = torch.float64 if flats[0].dtype == torch.float64 else torch.float32
    if len(flats) == 1:
        return torch.linalg.vector_norm(flats[0], dtype=dtype)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(f, dtype=dtype).to(flats[0].device) for f in flats]))


def flat_dot(a: list[Tensor], b: list[Tensor]) -> float:
    """⟨a, b⟩ over aligned flat buffers (one kernel per buffer), as a host float."""
    return sum(float(torch.dot(x, y)) for x, y in zip(a, b))


class FlatBuffers:
    """Parameter-shaped views into one contiguous buffer per (device, dtype).

    Why: a gradient held as views of one flat buffer is averaged across DDP ranks with a single
    all-reduce per dtype (no flatten/unflatten copies), zeroed, accumulated, filled with noise and
    reduced (norms, dot products) by one kernel each, while foreach ops still see the per-parameter
    views. ``first``: indices laid out first in their buffer, so that subset is the contiguous
    prefix ``prefix(key)`` (the perturbed parameters of LSAM).
    """

    def __init__(self, like: list[Tensor], first: set[int] | None = None):
        groups: dict[tuple[torch.device, torch.dtype], list[int]] = defaultdict(list)
        for i, p in enumerate(like):
            groups[(p.device, p.dtype)].append(i)
        self.keys = list(groups)
        self.flats: list[Tensor] = []
        self._prefix: dict[tuple[torch.device, torch.dtype], int] = {}
        self.views: list[Tensor] = [None] * len(like)  # type: ignore[list-item]
        for (device, dtype), idx in groups.items():
            if first is not None:
                idx = [i for i in idx if i in first] + [i for i in idx if i not in first]
            flat = torch.zeros(sum(like[i].numel() for i in idx), dtype=dtype, device=device)
            offset = 0
            for i in idx:
                n = like[i].numel()
                self.views[i] = flat[offset : offset + n].view(like[i].shape)
                offset += n
            self._prefix[(device, dtype)] = sum(like[i].numel() for i in idx if first is None or i in first)
            self.flats.append(flat)

    def prefix(self, key: tuple[torch.device, torch.dtype]) -> Tensor:
        return self.flats[self.keys.index(key)][: self._prefix[key]]

    def zero_(self) -> None:
        for f in self.flats:
            f.zero_()

    def numel(self) -> int:
        return sum(f.numel() for f in self.flats)
