"""Models: timm architectures by name, plus the papers' small ones registered into timm."""

from samlab.models.factory import (
    classifier_keys,
    create_model,
    load_backbone,
    model_from_checkpoint,
    set_head,
    unfuse_attention,
)

__all__ = ["classifier_keys", "create_model", "load_backbone", "model_from_checkpoint", "set_head", "unfuse_attention"]
