"""Models: timm architectures by name, plus the papers' small ones registered into timm."""

from samlab.models.factory import create_model, model_from_checkpoint

__all__ = ["create_model", "model_from_checkpoint"]
