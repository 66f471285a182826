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


class FlatBuffers:
    """Parameter-shaped views into one contiguous buffer per (device, dtype).

    Why: a gradient held as views of one flat buffer is averaged across DDP ranks with a single
    all-reduce per dtype (no flatten/unflatten copies), zeroed, accumulated and filled with noise by
    one kernel each, while foreach ops still see the per-parameter views.
    """

    def __init__(self, like: list[Tensor]):
        groups: dict[tuple[torch.device, torch.dtype], list[int]] = defaultdict(list)
        for i, p in enumerate(like):
            groups[(p.device, p.dtype)].append(i)
        self.flats: list[Tensor] = []
        self.views: list[Tensor] = [None] * len(like)  # type: ignore[list-item]
        for (device, dtype), idx in groups.items():
            flat = torch.zeros(sum(like[i].numel() for i in idx), dtype=dtype, device=device)
            offset = 0
            for i in idx:
                n = like[i].numel()
                self.views[i] = flat[offset : offset + n].view(like[i].shape)
                offset += n
            self.flats.append(flat)

    def zero_(self) -> None:
        for f in self.flats:
            f.zero_()

    def numel(self) -> int:
        return sum(f.numel() for f in self.flats)
