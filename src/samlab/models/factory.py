"""``create_model``: any timm architecture by name, sized for the data it will see."""

from __future__ import annotations

from typing import Any

import timm
import torch
from torch import nn

import samlab.models.small  # noqa: F401  - registers the samlab_* timm models


def create_model(
    name: str,
    num_classes: int,
    in_chans: int = 3,
    img_size: int | None = None,
    pretrained: bool = False,
    seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a timm model; ``img_size`` is passed only to architectures that take it (ViTs, ours)."""
    if not timm.is_model(name):
        raise ValueError(f"unknown model {name!r}: not a timm architecture (see timm.list_models())")
    if img_size is not None:
        kwargs["img_size"] = img_size
    if seed is not None:
        torch.manual_seed(seed)
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs)
    except TypeError as exc:
        if "img_size" in kwargs and "img_size" in str(exc):
            kwargs.pop("img_size")  # convnets adapt to any size through global pooling
            return timm.create_model(name, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs)
        raise


def model_from_checkpoint(checkpoint: dict[str, Any]) -> nn.Module:
    """Rebuild a model saved by the training stage (``{"model_config", "state_dict"}``)."""
    try:
        config, state = checkpoint["model_config"], checkpoint["state_dict"]
    except KeyError as exc:
        raise ValueError(f"not a samlab model checkpoint: missing {exc}") from exc
    model = create_model(**config)
    model.load_state_dict(state)
    return model
