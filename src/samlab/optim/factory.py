"""``create_optimizer(name, model, **cfg)``: optimizer variants by name, from configuration.

A variant is a base optimizer (``sgd``, ``sgdw``, ``adamw``) plus, optionally, a perturbation. New
variants register a builder in ``OPTIMIZERS``; the training pipeline only ever calls
``create_optimizer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from samlab.optim.sam import SAM, GradientStep

BaseFactory = Callable[..., torch.optim.Optimizer]


def param_groups_weight_decay(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: decay for weight matrices/kernels, none for biases, norms, tokens (ndim <= 1)."""
    no_decay_names = set(getattr(model, "no_weight_decay", lambda: set())())
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(".bias") or name in no_decay_names:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _sgd(groups, lr: float, momentum: float = 0.9, nesterov: bool = False, **_) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)


def _adamw(groups, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, **_) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)


BASE_OPTIMIZERS: dict[str, BaseFactory] = {"sgd": _sgd, "adamw": _adamw}


def create_base_optimizer(
    name: str, model: nn.Module, lr: float, weight_decay: float = 0.0, **kwargs: Any
) -> torch.optim.Optimizer:
    if name not in BASE_OPTIMIZERS:
        raise ValueError(f"unknown base optimizer {name!r}; known: {sorted(BASE_OPTIMIZERS)}")
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    return BASE_OPTIMIZERS[name](param_groups_weight_decay(model, weight_decay), lr=lr, **kwargs)


def _plain(model: nn.Module, base: str = "sgd", max_grad_norm: float | None = None, **cfg: Any) -> GradientStep:
    return GradientStep(create_base_optimizer(base, model, **cfg), max_grad_norm=max_grad_norm)


def _sam(
    model: nn.Module,
    base: str = "sgd",
    rho: float = 0.05,
    perturbation_batch_size: int | None = None,
    max_grad_norm: float | None = None,
    **cfg: Any,
) -> SAM:
    return SAM(
        create_base_optimizer(base, model, **cfg),
        rho=rho,
        perturbation_batch_size=perturbation_batch_size,
        max_grad_norm=max_grad_norm,
    )


OPTIMIZERS: dict[str, Callable[..., GradientStep]] = {
    "sgd": lambda model, **cfg: _plain(model, **{"base": "sgd", **cfg}),
    "adamw": lambda model, **cfg: _plain(model, **{"base": "adamw", **cfg}),
    "sam": _sam,
}


def create_optimizer(name: str, model: nn.Module, **cfg: Any) -> GradientStep:
    """Build the optimizer variant ``name`` (e.g. ``"sgd"``, ``"sam"``) for ``model``'s parameters."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](model, **cfg)
