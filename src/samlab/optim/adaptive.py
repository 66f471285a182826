"""ASAM scaling (Kwon et al. 2021; science.md §3): scale the ascent direction by a = |w| + η.

Placements (ρ applied by the caller, so these give the unit-radius direction e/ρ):
- ``before``: a⊙g/‖a⊙g‖            (‖e‖ = ρ)
- ``after``:  a⊙(g/‖g‖)
- ``both``:   a²⊙g/‖a⊙g‖           (the original ASAM)
η defaults to 0 as in the reference code (the ASAM paper uses 0.01).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from samlab.optim._ops import EPS, global_norm

PLACEMENTS = ("before", "after", "both")


class AdaptiveScaling:
    def __init__(self, placement: str = "before", eta: float = 0.0):
        if placement not in PLACEMENTS:
            raise ValueError(f"ASAM placement must be one of {PLACEMENTS}, got {placement!r}")
        if not float(eta) >= 0:
            raise ValueError(f"ASAM eta must be >= 0, got {eta}")
        self.placement = placement
        self.eta = float(eta)

    @torch.no_grad()
    def unit_direction_(self, grads: list[Tensor], params: list[Tensor], backup: list[Tensor]) -> None:
        """grads ← e/ρ in place. ``params`` serve as scratch for a (no extra buffer) and are copied
        back from ``backup`` (which must hold w) before returning."""
        torch._foreach_abs_(params)
        if self.eta:
            torch._foreach_add_(params, self.eta)
        if self.placement == "after":
            norm = global_norm(grads)
            torch._foreach_mul_(grads, params)
        else:
            torch._foreach_mul_(grads, params)
            norm = global_norm(grads)
            if self.placement == "both":
                torch._foreach_mul_(grads, params)
        torch._foreach_mul_(grads, (1.0 / (norm + EPS)).to(grads[0].dtype))
        torch._foreach_copy_(params, backup)

    def describe(self) -> dict[str, Any]:
        return {"placement": self.placement, "eta": self.eta}
