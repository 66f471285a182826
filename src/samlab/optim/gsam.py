"""GSAM's surrogate-gap correction (Zhuang et al. 2022; science.md §2).

Per chunk: n = g_adv/(‖g_adv‖+ε), g⊥ = g − ⟨g, n⟩n, final chunk gradient = g_adv − α·g⊥, with g the
ascent gradient, saved either raw (default) or normalised (``backup_normalized``: the unit-radius
perturbation direction e/ρ, i.e. ASAM-scaled when ASAM is on). α = 0 is SAM.

⟨g, n⟩ uses the polarisation identity on a scratch buffer (‖x + r·g_adv‖² − ‖x − r·g_adv‖²)/4 with
r making both terms unit-scale, so it needs only foreach norms (no per-tensor dot loop) and loses no
precision to mismatched magnitudes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from samlab.optim._ops import EPS, global_norm


class GSAMCorrection:
    def __init__(self, alpha: float, backup_normalized: bool = False):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"GSAM alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.backup_normalized = bool(backup_normalized)

    @torch.no_grad()
    def apply_(self, grads: list[Tensor], saved: list[Tensor], scratch: list[Tensor], scale: float = 1.0) -> None:
        """grads (= scale·g_adv) ← scale·(g_adv − α·g⊥) in place; ``saved`` holds g (unscaled);
        ``scratch`` is a free parameter-sized buffer; ``scale`` is the fp16 loss scale (else 1)."""
        if self.alpha == 0.0:
            return
        n_adv = global_norm(grads)
        n_g = global_norm(saved)
        dtype = grads[0].dtype
        r = ((n_g + EPS) / (n_adv + EPS)).to(dtype)
        torch._foreach_copy_(scratch, grads)
        torch._foreach_mul_(scratch, r)
        torch._foreach_add_(scratch, saved)  # g + r·g_adv
        plus = global_norm(scratch)
        torch._foreach_mul_(scratch, -1.0)
        torch._foreach_add_(scratch, saved, alpha=2.0)  # g − r·g_adv
        minus = global_norm(scratch)
        g_dot_n = (plus.square() - minus.square()) / (4.0 * (n_g + EPS))  # ⟨g, n⟩
        coef = 1.0 + self.alpha * scale * g_dot_n / (n_adv + EPS)
        torch._foreach_mul_(grads, coef.to(dtype))
        torch._foreach_add_(grads, saved, alpha=-self.alpha * scale)

    def describe(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "backup_normalized": self.backup_normalized}
