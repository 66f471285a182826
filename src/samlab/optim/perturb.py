"""The perturbation of one chunk: w + e from the ascent gradient g, swapped into the parameters, and what
the step keeps for it.

Why apart from ``sam.py``: this is the part with the variants' maths (SAM, ASAM placements, GSAM's saved
gradient); ``sam.py`` is the two-pass loop around it. Coefficients are 0-dim device tensors (no host read).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import Tensor

from samlab.optim._ops import EPS, add_scaled, global_norm, write_over
from samlab.optim.adaptive import AdaptiveScaling
from samlab.optim.ascent import Ascent
from samlab.optim.gsam import GSAMCorrection


@dataclass
class SAMBuffers:
    """What the step holds beyond the base optimizer, lists aligned with the perturbed parameters.

    ``backup``: while w + e is in the parameters (``p.data``: the ascent gradient's tensors, written over,
    or new tensors where GSAM keeps that gradient; freed when w comes back), the parameters' own tensors,
    holding w untouched; None between chunks. Why a swap: w + e is written once and w comes back by
    pointer, where copying w out and back would read and write every parameter twice more per chunk.
    ``saved``: GSAM's copy of the ascent gradient when it cannot simply keep autograd's tensor (ASAM
    rescales that in place); allocated only then. ``gsam``: GSAM's s for the chunk in flight, as −α·S·s
    (``saved``, or autograd's ascent-gradient tensors kept alive), None between chunks. The correction
    writes the final gradient into those tensors, so when they were ``saved`` the perturbed gradient's
    tensors, free by then, become ``saved`` for the next chunk.
    ``accum``: the weighted sum of the earlier chunks' final gradients of this update (all parameters) —
    the first chunk's own gradient tensors, so no separate buffer is ever allocated or zeroed."""

    backup: list[Tensor] | None = None
    saved: list[Tensor] | None = None
    gsam: list[Tensor] | None = None
    accum: list[Tensor] | None = None


def swap_data(params: list[Tensor], tensors: list[Tensor]) -> list[Tensor]:
    """``p.data ← t`` for each pair; returns the tensors the parameters held. Moves pointers, not values:
    the parameters keep their identity (optimizer state, hooks, DDP), only their storage changes."""
    old = [p.data for p in params]
    for p, t in zip(params, tensors):
        p.data = t
    return old


def random_direction(params: list[Tensor], ascent: Ascent) -> list[Tensor]:
    """One flat buffer per (device, dtype), filled by the ascent, seen as parameter-shaped views."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, p in enumerate(params):
        groups[(p.device, p.dtype)].append(i)
    views: list[Tensor] = [None] * len(params)  # type: ignore[list-item]
    flats = []
    for (device, dtype), idx in groups.items():
        flat = torch.empty(sum(params[i].numel() for i in idx), device=device, dtype=dtype)
        flats.append(flat)
        for i, part in zip(idx, flat.split([params[i].numel() for i in idx])):
            views[i] = part.view(params[i].shape)
    ascent.fill_(flats)
    return views


def gsam_needs_copy(adaptive: AdaptiveScaling | None, gsam: GSAMCorrection) -> bool:
    """GSAM keeps autograd's ascent-gradient tensors as its backup unless ASAM rescales them first."""
    if adaptive is None or gsam.backup == "normalized":
        return False
    return gsam.backup == "gradient" or adaptive.placement != "before"


@torch.no_grad()
def perturbed_weights(
    pparams: list[Tensor],
    g: list[Tensor],
    rho: float,
    buffers: SAMBuffers,
    adaptive: AdaptiveScaling | None,
    gsam: GSAMCorrection | None,
    unit: Tensor | float = 1.0,
) -> tuple[list[Tensor], Tensor, list[Tensor] | None]:
    """w + e from the ascent gradient g (consumed; w is not touched); returns (w + e, ‖e‖, GSAM's saved s or
    None).

    With GSAM, g arrives as −unit·(ascent gradient), unit = α·S (``SAM._ascent_gradient``): norms are
    divided by unit and the write by −unit, and every s saved from g is then already in the form GSAM's
    correction adds (−α·S·s). Otherwise unit = 1.

    Why w + e goes into g's own tensors (``write_over``): one pass that allocates nothing, and g's memory is
    what the perturbed pass's gradients would have reused. Where g must outlive the pass (it is GSAM's s),
    w + e is written into new tensors, still in one pass (``add_scaled``; docs/optimizers.md)."""
    sign = -1.0 if gsam is not None else 1.0  # g = sign·unit·(ascent gradient)
    saved = None
    if gsam is not None and gsam.backup != "normalized":
        saved = g if buffers.saved is None else buffers.saved
    # GSAM's raw s when ASAM rescales g in place: a copy of g as the norm sees it (``gsam_needs_copy``)
    keep = buffers.saved if adaptive is not None and gsam is not None and gsam.backup == "raw" else None
    over_g = gsam is None or (saved is not None and saved is not g)  # g is not needed after the write
    factor = sign * rho / unit  # e = factor·c·d
    if adaptive is None:
        norm = global_norm(g) / unit
        c = 1.0 / (norm + EPS)  # e/ρ = c·g
        size = norm * c
    else:
        if gsam is not None and gsam.backup == "gradient":
            torch._foreach_copy_(saved, g)
        c, size = adaptive.direction_(g, pparams, keep=keep, unit=unit, write=factor if over_g else None)
        if over_g:  # ASAM wrote w + e over g, block by block
            return g, rho * size, saved
    if gsam is not None and gsam.backup == "normalized":  # s = e/ρ
        torch._foreach_mul_(g, c)
        return add_scaled(pparams, g, factor), rho * size, g
    coef = factor * c
    return (write_over(g, pparams, coef) if over_g else add_scaled(pparams, g, coef)), rho * size, saved
