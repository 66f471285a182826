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

from samlab.optim._ops import EPS, blocks, square_terms, write_over

PLACEMENTS = ("before", "after", "both")


class AdaptiveScaling:
    def __init__(self, placement: str = "before", eta: float = 0.0):
        if placement not in PLACEMENTS:
            raise ValueError(f"ASAM placement must be one of {PLACEMENTS}, got {placement!r}")
        if not float(eta) >= 0:
            raise ValueError(f"ASAM eta must be >= 0, got {eta}")
        self.placement = placement
        self.eta = float(eta)

    def _scale(self, params: list[Tensor], exact: bool) -> list[Tensor]:
        """a = |w| + η for a block. For ``both`` with η = 0, w itself unless ``exact``: w⊙w⊙g = a²⊙g and
        ‖w⊙g‖ = ‖a⊙g‖ (the signs cancel), and no |w| is computed."""
        if self.placement == "both" and self.eta == 0.0 and not exact:
            return params
        scale = torch._foreach_abs(params)
        if self.eta:
            torch._foreach_add_(scale, self.eta)
        return scale

    @torch.no_grad()
    def direction_(
        self,
        grads: list[Tensor],
        params: list[Tensor],
        keep: list[Tensor] | None = None,
        unit: Tensor | float = 1.0,
        write: Tensor | float | None = None,
    ) -> tuple[Tensor, Tensor]:
        """grads ← d, the scaled direction before normalisation (a⊙g, or a²⊙g for ``both``); returns
        (c, ‖c·d‖) as 0-dim tensors with e/ρ = c·d.

        Why: the caller folds c into its one w + ρ·c·d pass. With ``write`` = f, that pass is done here,
        grads ← w + f·c·d in place, in the same ``blocks`` as the last scaling: on the CPU each block of g
        and w is read from memory twice in all (before and after the norm) instead of once per operation.
        ``keep``, if given, receives the gradient as the norm sees it (a⊙g for before/both, g for after):
        GSAM's raw backup. a = |w| + η is computed per block, never for all parameters at once.
        ``unit``: g arrives multiplied by ±unit (GSAM, perturb.py); the norms are divided by it, so c and
        ‖c·d‖ are those of the plain gradient."""
        before = self.placement != "after"  # a scaling before the norm
        after = self.placement != "before"  # a scaling after it
        exact = keep is not None
        lists = (grads, params) if keep is None else (grads, params, keep)
        terms: list[Tensor] = []
        for g, w, *k in blocks(*lists):
            if before:
                torch._foreach_mul_(g, self._scale(w, exact))
            if k:
                torch._foreach_copy_(k[0], g)
            terms += square_terms(g)
        norm = torch.stack(terms).sum().sqrt() / unit
        c = 1.0 / (norm + EPS)
        coef = None if write is None else write * c
        terms = []
        if after or coef is not None:
            for g, w in blocks(grads, params):
                if after:
                    torch._foreach_mul_(g, self._scale(w, exact))
                    terms += square_terms(g)
                if coef is not None:
                    write_over(g, w, coef)
        return c, (torch.stack(terms).sum().sqrt() / unit if after else norm) * c

    def describe(self) -> dict[str, Any]:
        return {"placement": self.placement, "eta": self.eta}
