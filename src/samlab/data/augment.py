"""Batched on-device augmentation for ``TensorLoader``: random crop with zero padding and horizontal flip.

Why: a torchvision-style pipeline crops and flips one image at a time in Python (in worker processes).
Here one call draws every sample's offsets and flip bits, builds the row/column index of each output pixel
and gathers the whole batch at once on the device that holds it (uint8 in, uint8 out). Randomness comes from
the loader's CPU generator, so a seed gives the same batches on every device.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


class CropFlip:
    """``x ↦ random crop (H, W) of x zero-padded by ``padding``, flipped left-right with probability ``hflip``."""

    def __init__(self, padding: int = 4, hflip: float = 0.5):
        if padding < 0 or not 0.0 <= hflip <= 1.0:
            raise ValueError(f"need padding >= 0 and 0 <= hflip <= 1, got {padding}, {hflip}")
        self.padding = int(padding)
        self.hflip = float(hflip)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"augmentation needs images (N, C, H, W), got shape {tuple(x.shape)}")
        n, c, h, w = x.shape
        p = self.padding
        dy = torch.randint(0, 2 * p + 1, (n, 1), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n, 1), generator=generator)
        flip = torch.rand(n, 1, generator=generator) < self.hflip
        rows = dy + torch.arange(h)                                           # (n, h) in padded coordinates
        cols = dx + torch.where(flip, torch.arange(w - 1, -1, -1), torch.arange(w))  # (n, w)
        dev = x.device
        padded = F.pad(x, (p, p, p, p)) if p else x
        # flat index into each padded image (c, h+2p, w+2p): one gather for the whole batch
        wp = w + 2 * p
        pix = (rows.to(dev).unsqueeze(2) * wp + cols.to(dev).unsqueeze(1)).view(n, 1, h * w).expand(n, c, h * w)
        return padded.reshape(n, c, -1).gather(2, pix).view(n, c, h, w)

    def __repr__(self) -> str:
        return f"CropFlip(padding={self.padding}, hflip={self.hflip})"


def create_augment(cfg: dict[str, Any] | None) -> CropFlip | None:
    """From training parameters ``augment: {crop_padding: 4, hflip: true}`` (``None``/``{}``: no augmentation).

    ``hflip`` may be a bool (probability 0.5 when true) or a probability.
    """
    if not cfg:
        return None
    unknown = set(cfg) - {"crop_padding", "hflip"}
    if unknown:
        raise ValueError(f"unknown augmentation option(s) {sorted(unknown)}; known: crop_padding, hflip")
    hflip = cfg.get("hflip", False)
    prob = (0.5 if hflip else 0.0) if isinstance(hflip, bool) else float(hflip)
    padding = int(cfg.get("crop_padding", 0))
    if padding == 0 and prob == 0.0:
        return None
    return CropFlip(padding, prob)
