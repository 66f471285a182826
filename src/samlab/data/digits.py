"""scikit-learn's bundled digits (1797 8×8 grey images, 10 classes): the embedded default, no download."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from samlab.data.prepared import PreparedData, channel_stats


def digits_images(image_size: int = 16, in_chans: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 (N, in_chans, image_size, image_size), bilinear-resized, grey replicated."""
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8 (digits are 8×8), got {image_size}")
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3, got {in_chans}")
    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) * (255.0 / 16.0)).unsqueeze(1)
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).expand(-1, in_chans, -1, -1).contiguous()
    return x, torch.from_numpy(bunch.target.astype(np.int64))


CANONICAL_SPLITS = ("train", "val", "test")


def canonical_split_order(names) -> list[str]:
    """train, val, test first (those present), then the other names sorted."""
    names = list(names)
    return [n for n in CANONICAL_SPLITS if n in names] + sorted(n for n in names if n not in CANONICAL_SPLITS)


def stratified_split(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Fixed, stratified index split; ``fractions`` must sum to 1 (e.g. train/val/test).

    The splits are drawn in the canonical order train, val, test, then any others by name, whatever order the
    mapping has: a config file written with sorted keys (``yaml.safe_dump``) must give the same split."""
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6 or any(f <= 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be positive and sum to 1, got {fractions}")
    names = canonical_split_order(fractions)
    remaining = np.arange(len(labels))
    out: dict[str, np.ndarray] = {}
    left = 1.0
    for name in names[:-1]:
        frac = fractions[name] / left
        take, remaining = train_test_split(remaining, train_size=frac, random_state=seed, stratify=labels[remaining])
        out[name] = np.sort(take)
        left -= fractions[name]
    out[names[-1]] = np.sort(remaining)
    return out


def prepare_digits(image_size: int, in_chans: int, split: dict[str, float], seed: int) -> PreparedData:
    images, labels = digits_images(image_size, in_chans)
    idx = stratified_split(labels.numpy(), split, seed)
    splits = {name: (images[torch.from_numpy(i)], labels[torch.from_numpy(i)]) for name, i in idx.items()}
    mean, std = channel_stats(splits[next(iter(idx))][0])  # the first split in canonical order (train)
    return PreparedData("digits", splits, mean, std, [str(d) for d in range(10)])
