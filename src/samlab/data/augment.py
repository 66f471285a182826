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
        rows = dy + torch.arange(h)  # (n, h) in padded coordinates
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


def _crop_resize(x: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Bilinear resample of each image's box ``(x0, y0, x1, y1)`` (pixels) to ``size``², one ``grid_sample``.

    The grid maps output pixel centres into the box the way ``F.interpolate(mode="bilinear",
    align_corners=False)`` maps them into a whole image, so a whole-image box is exactly that resize.
    """
    n, _, h, w = x.shape
    boxes = boxes.to(device=x.device, dtype=torch.float32)
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = (boxes[:, 2] - boxes[:, 0]) / w
    theta[:, 0, 2] = (boxes[:, 0] + boxes[:, 2]) / w - 1
    theta[:, 1, 1] = (boxes[:, 3] - boxes[:, 1]) / h
    theta[:, 1, 2] = (boxes[:, 1] + boxes[:, 3]) / h - 1
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


class ResizedCropFlip:
    """Batched ``RandomResizedCrop(size, scale, ratio 3/4–4/3)`` + horizontal flip of uint8 images.

    Why: paper 1 fine-tunes on CIFAR upsampled to the pre-trained model's 224 px with ImageNet's train
    augmentation; per-image PIL transforms would dominate the step. Boxes are drawn as torchvision does (10
    tries of area and log-ratio, the first that fits, else the whole image), all samples at once; the output
    is float on the [0, 255] scale (the loader's ``normalise`` divides by 255).
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip: float = 0.5,
    ):
        if not 0 < scale[0] <= scale[1] <= 1 or not 0 < ratio[0] <= ratio[1] or not 0 <= hflip <= 1:
            raise ValueError(
                f"need 0 < scale[0] <= scale[1] <= 1, 0 < ratio[0] <= ratio[1], 0 <= hflip <= 1; "
                f"got {scale}, {ratio}, {hflip}"
            )
        self.size, self.scale, self.ratio, self.hflip = int(size), tuple(scale), tuple(ratio), float(hflip)

    def boxes(self, n: int, h: int, w: int, generator: torch.Generator) -> Tensor:
        tries = 10
        area = h * w * (self.scale[0] + (self.scale[1] - self.scale[0]) * torch.rand(n, tries, generator=generator))
        log_r = torch.log(torch.tensor(self.ratio))
        ratio = torch.exp(log_r[0] + (log_r[1] - log_r[0]) * torch.rand(n, tries, generator=generator))
        cw = torch.sqrt(area * ratio).round()
        ch = torch.sqrt(area / ratio).round()
        fits = (cw >= 1) & (ch >= 1) & (cw <= w) & (ch <= h)
        first = torch.where(fits.any(1), fits.float().argmax(1), torch.full((n,), -1))
        pick = first.clamp_min(0).unsqueeze(1)
        cw = torch.where(first >= 0, cw.gather(1, pick).squeeze(1), torch.full((n,), float(w)))
        ch = torch.where(first >= 0, ch.gather(1, pick).squeeze(1), torch.full((n,), float(h)))
        x0 = (torch.rand(n, generator=generator) * (w - cw + 1)).floor()
        y0 = (torch.rand(n, generator=generator) * (h - ch + 1)).floor()
        return torch.stack([x0, y0, x0 + cw, y0 + ch], dim=1)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"augmentation needs images (N, C, H, W), got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        boxes = self.boxes(n, h, w, generator)
        flip = torch.rand(n, generator=generator) < self.hflip
        boxes[flip] = boxes[flip][:, [2, 1, 0, 3]]  # a mirrored box: x runs from x1 down to x0
        return _crop_resize(x, boxes, self.size)

    def __repr__(self) -> str:
        return f"ResizedCropFlip(size={self.size}, scale={self.scale}, ratio={self.ratio}, hflip={self.hflip})"


class CentreCrop:
    """Eval transform at a model's input size: resize so the crop is ``crop_pct`` of the shorter side, then
    centre-crop ``size`` (timm/torchvision's eval recipe, bilinear), batched."""

    def __init__(self, size: int, crop_pct: float = 0.875):
        if not 0 < crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}")
        self.size, self.crop_pct = int(size), float(crop_pct)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, _, h, w = x.shape
        side = min(h, w) * self.crop_pct
        box = torch.tensor([(w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2]).expand(n, 4)
        return _crop_resize(x, box, self.size)

    def __repr__(self) -> str:
        return f"CentreCrop(size={self.size}, crop_pct={self.crop_pct})"


def input_transforms(spec: dict[str, Any] | None) -> tuple[ResizedCropFlip | None, CentreCrop | None]:
    """``(train, eval)`` transforms for tensor images shown to a model at another size, from a prepared
    data set's ``extra["input"] = {size, crop_pct, train_scale, hflip}`` (None, None without one)."""
    if not spec:
        return None, None
    size = int(spec["size"])
    train = ResizedCropFlip(size, tuple(spec.get("train_scale", (0.08, 1.0))), hflip=float(spec.get("hflip", 0.5)))
    return train, CentreCrop(size, float(spec.get("crop_pct", 0.875)))
