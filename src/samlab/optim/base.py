"""Base optimizers by name, on timm's parameter groups (no weight decay on biases, norms and tokens).

``sgd`` is torch's SGD (coupled L2: the decay is added to the gradient), ``sgdw`` timm's SGDW (decoupled:
w ← w·(1 − lr·wd), then the momentum step — the official code's SGDW, see docs/optimizers.md), ``adamw``
torch's AdamW. The perturbations (``factory.py``) wrap any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from timm.optim import SGDW, param_groups_weight_decay
from torch import nn

BaseFactory = Callable[..., torch.optim.Optimizer]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """timm's split: ``weight_decay`` for weight matrices/kernels, none for ndim ≤ 1 tensors, ``.bias``
    and the model's ``no_weight_decay()`` names (timm models list their tokens/embeddings there)."""
    inner = getattr(model, "module", model)  # DistributedDataParallel
    skip = getattr(inner, "no_weight_decay", lambda: set())()
    return param_groups_weight_decay(model, weight_decay, no_weight_decay_list=tuple(skip))


def _sgd(groups, lr: float, momentum: float = 0.9, nesterov: bool = False) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)


def _sgdw(groups, lr: float, momentum: float = 0.9, nesterov: bool = False) -> torch.optim.Optimizer:
    return SGDW(groups, lr=lr, momentum=momentum, nesterov=nesterov)


def _adamw(groups, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)


BASE_OPTIMIZERS: dict[str, BaseFactory] = {"sgd": _sgd, "sgdw": _sgdw, "adamw": _adamw}


def create_base_optimizer(
    name: str, model: nn.Module, lr: float, weight_decay: float = 0.0, **kwargs: Any
) -> torch.optim.Optimizer:
    """The base optimizer ``name`` over ``model``'s trainable parameters, split into decay/no-decay groups."""
    if name not in BASE_OPTIMIZERS:
        raise ValueError(f"unknown base optimizer {name!r}; known: {sorted(BASE_OPTIMIZERS)}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    try:
        return BASE_OPTIMIZERS[name](param_groups(model, weight_decay), lr=lr, **kwargs)
    except TypeError as err:  # e.g. momentum for adamw, or a perturbation key (rho) for a plain optimizer
        raise ValueError(
            f"unknown option for base optimizer {name!r} (options given: {sorted(kwargs)}): {err}"
        ) from None
