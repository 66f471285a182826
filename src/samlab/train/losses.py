"""Training losses by name: softmax cross-entropy, and BCE over one-hot targets (paper 1's ViT recipe)."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]


def create_loss(name: str = "ce", label_smoothing: float = 0.0) -> LossFn:
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if name == "ce":
        return lambda logits, y: F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    if name == "bce":

        def bce(logits: Tensor, y: Tensor) -> Tensor:
            # Sum over classes, mean over the batch (the reference recipe), smoothed one-hot targets.
            target = F.one_hot(y, logits.shape[1]).to(logits.dtype)
            if label_smoothing:
                target = target * (1 - label_smoothing) + label_smoothing / logits.shape[1]
            return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]

        return bce
    raise ValueError(f"unknown loss {name!r}; known: ['bce', 'ce']")
