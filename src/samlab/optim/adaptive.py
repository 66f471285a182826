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

    def _needs_scale(self, keep: bool = False) -> bool:
        """Whether ``direction_`` materialises a = |w| + η. Not for ``both`` with η = 0 without ``keep``:
        w⊙w⊙g = a²⊙g and ‖w⊙g‖ = ‖a⊙g‖ exactly (signs cancel), so two multiplications by w itself do."""
        return not (self.placement == "both" and self.eta == 0.0 and not keep)

    @torch.no_grad()
    def direction_(
        self,
        grads: list[Tensor],
        params: list[Tensor],
        keep: list[Tensor] | None = None,
        unit: Tensor | float = 1.0,
    ) -> tuple[Tensor, Tensor]:
        """grads ← d, the scaled direction before normalisation (a⊙g, or a²⊙g for ``both``); returns
        (c, ‖c·d‖) as 0-dim tensors with e/ρ = c·d.

        Why: the caller folds c into its one w + ρ·c·d pass (d is never rewritten). ``keep``, if given,
        receives the gradient as the norm sees it (a⊙g for before/both, g for after): GSAM's raw backup.
        a = |w| + η, when needed, is a temporary (one pass that reads w and writes a).
        ``unit``: g arrives multiplied by ±unit (GSAM, perturb.py); the norms are divided by it, so c and
        ‖c·d‖ are those of the plain gradient."""
        if not self._needs_scale(keep is not None):
            torch._foreach_mul_(grads, params)
            norm = global_norm(grads) / unit
            torch._foreach_mul_(grads, params)
            c = 1.0 / (norm + EPS)
            return c, global_norm(grads) / unit * c
        scale = torch._foreach_abs(params)
        if self.eta:
            torch._foreach_add_(scale, self.eta)
        if self.placement == "after":
            if keep is not None:
                torch._foreach_copy_(keep, grads)
            norm = global_norm(grads) / unit
            torch._foreach_mul_(grads, scale)
        else:
            torch._foreach_mul_(grads, scale)
            norm = global_norm(grads) / unit
            if self.placement == "both":
                if keep is not None:
                    torch._foreach_copy_(keep, grads)
                torch._foreach_mul_(grads, scale)
        c = 1.0 / (norm + EPS)
        return c, (norm if self.placement == "before" else global_norm(grads) / unit) * c

    def describe(self) -> dict[str, Any]:
        return {"placement": self.placement, "eta": self.eta}
