"""GSAM's surrogate-gap correction (Zhuang et al. 2022; docs/science.md §2).

Per chunk: n = g_adv/(‖g_adv‖+ε), g⊥ = g − ⟨g, n⟩n, final chunk gradient = g_adv − α·g⊥, with g the
ascent gradient, saved either raw (default) or normalised (``backup_normalized``: the unit-radius
perturbation direction e/ρ, i.e. ASAM-scaled when ASAM is on). α = 0 is SAM.

The step keeps the gradients and the saved g in flat buffers (one per dtype), so ‖g_adv‖, ‖g‖ and
⟨g, g_adv⟩ are one reduction kernel each and the correction is one fused pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from samlab.optim._ops import EPS, flat_dot, flat_norm


class GSAMCorrection:
    def __init__(self, alpha: float, backup_normalized: bool = False):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"GSAM alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.backup_normalized = bool(backup_normalized)

    @torch.no_grad()
    def apply_(self, grads: list[Tensor], saved: list[Tensor], scale: float = 1.0) -> None:
        """grads (= scale·g_adv) ← scale·(g_adv − α·g⊥) in place, over aligned flat buffers;
        ``saved`` holds g (unscaled); ``scale`` is the fp16 loss scale (else 1)."""
        if self.alpha == 0.0:
            return
        n_adv = float(flat_norm(grads))
        g_dot_n = flat_dot(saved, grads) / (n_adv + EPS)  # ⟨g, n⟩, n = g_adv/(‖g_adv‖+ε)
        coef = 1.0 + self.alpha * scale * g_dot_n / (n_adv + EPS)
        for g, s in zip(grads, saved):  # one per (device, dtype) buffer
            g.mul_(coef).add_(s, alpha=-self.alpha * scale)

    def describe(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "backup_normalized": self.backup_normalized}
