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
    head_init: dict[str, float] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a timm model; ``img_size`` is passed only to architectures that take it (ViTs, ours).

    ``head_init: {weight: 0.0, bias: -10.0}`` sets the classifier to constants after timm's init (paper 1's
    ViT: a zero head with bias −10, so every sigmoid starts near 0 under the BCE loss); any other timm option
    (``class_token``, ``global_pool``, ``fc_norm``, ``weight_init: jax`` …) passes through.
    """
    model = _create(name, num_classes, in_chans, img_size, pretrained, seed, **kwargs)
    if head_init:
        set_head(model, **head_init)
    return model


def set_head(model: nn.Module, weight: float | None = None, bias: float | None = None) -> None:
    """Fill the classifier's weight and/or bias with constants."""
    unknown = None if hasattr(model, "get_classifier") else type(model).__name__
    if unknown:
        raise ValueError(f"head_init needs a timm model with get_classifier(), got {unknown}")
    head = model.get_classifier()
    with torch.no_grad():
        if weight is not None:
            head.weight.fill_(float(weight))
        if bias is not None:
            if head.bias is None:
                raise ValueError("head_init sets a bias but the classifier has none")
            head.bias.fill_(float(bias))


def classifier_keys(model: nn.Module) -> set[str]:
    """State-dict keys of the classifier (timm's ``get_classifier()``)."""
    head = model.get_classifier()
    ids = {id(t) for t in head.state_dict(keep_vars=True).values()}
    return {k for k, v in model.state_dict(keep_vars=True).items() if id(v) in ids}


def load_backbone(model: nn.Module, checkpoint: dict[str, Any]) -> None:
    """Copy every weight of a pre-trained checkpoint into ``model`` except the classifier (a new task's head
    stays as ``model`` initialised it). Anything else missing or mis-shaped is an error: wrong architecture."""
    try:
        state = checkpoint["state_dict"]
    except KeyError as exc:
        raise ValueError(f"not a samlab model checkpoint: missing {exc}") from exc
    head = classifier_keys(model)
    backbone = {k: v for k, v in state.items() if k not in head}
    own = model.state_dict()
    bad = sorted(k for k, v in backbone.items() if k in own and own[k].shape != v.shape)
    missing = sorted(set(own) - head - set(backbone))
    unexpected = sorted(set(backbone) - set(own))
    if bad or missing or unexpected:
        raise ValueError(
            f"pre-trained checkpoint does not fit the model ({type(model).__name__}): shape mismatch "
            f"{bad[:5]}, missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.load_state_dict(backbone, strict=False)


def _create(
    name: str, num_classes: int, in_chans: int, img_size: int | None, pretrained: bool, seed: int | None, **kwargs: Any
) -> nn.Module:
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


def unfuse_attention(model: nn.Module) -> nn.Module:
    """Switch timm attention blocks to the explicit softmax(QKᵀ)V maths: fused SDPA kernels have no double
    backward, which Hessian-vector products (sharpness analysis) need. Same function, same outputs."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = False
    return model


def model_from_checkpoint(checkpoint: dict[str, Any]) -> nn.Module:
    """Rebuild a model saved by the training stage (``{"model_config", "state_dict"}``)."""
    try:
        config, state = checkpoint["model_config"], checkpoint["state_dict"]
    except KeyError as exc:
        raise ValueError(f"not a samlab model checkpoint: missing {exc}") from exc
    model = create_model(**config)
    model.load_state_dict(state)
    return model
