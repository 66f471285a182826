"""ASAM scaling (Kwon et al. 2021; docs/science.md §3): scale the ascent direction by a = |w| + η.

Placements (ρ applied by the caller; these are the unit-radius directions e/ρ):
- ``before``: a⊙g/‖a⊙g‖            (‖e‖ = ρ)
- ``after``:  a⊙(g/‖g‖)
- ``both``:   a²⊙g/‖a⊙g‖           (the original ASAM)
η defaults to 0 as in the reference code (the ASAM paper uses 0.01).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from samlab.optim._ops import EPS, flat_norm

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
    def direction_(self, grads: list[Tensor], scratch: list[Tensor]) -> tuple[float, float]:
        """grads ← d, the scaled direction before normalisation (a⊙g, or a²⊙g for ``both``); returns
        (c, ‖c·d‖) with e/ρ = c·d.

        Why: the caller folds c into its one w ← w + ρ·c·d pass (d is never rewritten), and for
        ``before`` ‖e/ρ‖ = c·‖d‖ comes from the norm already taken. ``grads`` and ``scratch`` are
        aligned flat buffers (one kernel per op); ``scratch`` holds w on entry and a on exit (no extra
        buffer; the parameters are never touched, so the caller re-copies w from them)."""
        torch._foreach_abs_(scratch)
        if self.eta:
            torch._foreach_add_(scratch, self.eta)
        if self.placement == "after":
            norm = float(flat_norm(grads))
            torch._foreach_mul_(grads, scratch)
        else:
            torch._foreach_mul_(grads, scratch)
            norm = float(flat_norm(grads))
            if self.placement == "both":
                torch._foreach_mul_(grads, scratch)
        c = 1.0 / (norm + EPS)
        return c, (norm if self.placement == "before" else float(flat_norm(grads))) * c

    def describe(self) -> dict[str, Any]:
        return {"placement": self.placement, "eta": self.eta}
