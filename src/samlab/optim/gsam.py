"""GSAM's surrogate-gap correction (Zhuang et al. 2022; docs/science.md §2).

Per chunk: n = g_adv/(‖g_adv‖+ε), s⊥ = s − ⟨s, n⟩n, final chunk gradient = g_adv − α·s⊥, where s is the
ascent gradient saved before the perturbed pass (``backup``):
- ``raw`` (default, the official code): the gradient as the normalisation sees it — g, or ASAM's a⊙g
  when ASAM scales before the norm (``before``/``both``);
- ``gradient``: the plain gradient g even with ASAM (samlab's behaviour before this option existed);
- ``normalized``: the unit-radius perturbation direction e/ρ (ASAM-scaled when ASAM is on).
α = 0 is SAM. Norm, dot product and coefficient stay 0-dim device tensors (no host read).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from samlab.optim._ops import EPS, add_scaled_, global_dot, global_norm

BACKUPS = ("raw", "gradient", "normalized")


class GSAMCorrection:
    def __init__(self, alpha: float, backup_normalized: bool = False, backup: str | None = None):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"GSAM alpha must be in [0, 1], got {alpha}")
        if backup is None:
            backup = "normalized" if backup_normalized else "raw"
        elif backup not in BACKUPS:
            raise ValueError(f"GSAM backup must be one of {BACKUPS}, got {backup!r}")
        elif backup_normalized and backup != "normalized":
            raise ValueError(f"backup_normalized=True contradicts gsam_backup={backup!r}")
        self.alpha = float(alpha)
        self.backup = backup

    @property
    def backup_normalized(self) -> bool:
        return self.backup == "normalized"

    @torch.no_grad()
    def apply_(self, grads: list[Tensor], saved: list[Tensor], scale: Tensor | float = 1.0) -> None:
        """grads (= S·g_adv) ← S·(g_adv − α·s⊥) in place; ``saved`` holds s (unscaled; overwritten);
        ``scale`` S is the fp16 loss scale (else 1)."""
        if self.alpha == 0.0:
            return
        if isinstance(scale, Tensor):  # GradScaler keeps S in float32: compute the coefficients in the grads' precision
            scale = scale.to(grads[0].dtype)
        n_adv = global_norm(grads) + EPS
        s_dot_n = global_dot(saved, grads) / n_adv  # ⟨s, n⟩·S
        torch._foreach_mul_(grads, 1.0 + self.alpha * scale * s_dot_n / n_adv)
        add_scaled_(grads, saved, -self.alpha * scale)

    def describe(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "backup": self.backup, "backup_normalized": self.backup_normalized}
