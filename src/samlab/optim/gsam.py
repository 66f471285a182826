"""GSAM's surrogate-gap correction (Zhuang et al. 2022; docs/science.md §2).

Per chunk: n = g_adv/(‖g_adv‖+ε), s⊥ = s − ⟨s, n⟩n, final chunk gradient = g_adv − α·s⊥, where s is the
ascent gradient saved before the perturbed pass (``backup``), kept as −α·s (``apply_``):
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
    def apply_(self, grads: list[Tensor], saved: list[Tensor]) -> None:
        """saved ← S·(g_adv − α·s⊥), the final gradient, in one multiply-add.

        ``grads`` = S·g_adv (the perturbed pass's gradient; S the fp16 loss scale, else 1); ``saved`` =
        −α·S·s, the form the ascent pass hands s over in (``SAM._ascent_gradient``). Why: with
        k = 1 + α·S·⟨s, n⟩/‖S·g_adv‖ = 1 − ⟨saved, grads⟩/‖grads‖², the result is saved + k·grads, one pass
        where g_adv·k − α·S·s takes two; α and S drop out of the coefficient."""
        n_adv = global_norm(grads) + EPS
        add_scaled_(saved, grads, 1.0 - global_dot(saved, grads) / (n_adv * n_adv))

    def describe(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "backup": self.backup, "backup_normalized": self.backup_normalized}
