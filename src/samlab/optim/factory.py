"""``create_optimizer(name, model, **cfg)``: optimizer variants by name, from configuration.

A variant is a base optimizer (``base``: ``sgd``, ``sgdw``, ``adamw``) plus, optionally, a
perturbation. Every perturbed variant is the same ``SAM`` wrapper with a preset; any key may be
overridden, so e.g. ``{name: sam, adaptive: after, alpha: 0.1}`` is ASAM + GSAM with the loss ascent.

Config keys (all optional except ``lr``):
- base optimizer: ``base`` (sgd|sgdw|adamw; the plain names set it), ``lr``, ``weight_decay``
  (decoupled for sgdw/adamw, coupled L2 for sgd; never on biases/norms/tokens), ``momentum``,
  ``nesterov`` (sgd, sgdw), ``betas``, ``eps`` (adamw); ``max_grad_norm`` (clip once per update).
- perturbation: ``rho`` (ρ or ρ_max), ``rho_schedule`` (constant|lr_prop) with ``rho_min``, ``lr_min``,
  ``lr_max`` (default: ``lr``); ``perturbation_batch_size`` (m); ``ascent`` (loss|obf|random);
  OBF ``gamma`` (1.0), ``lam`` (None = 1/C), ``predictions`` (sigmoid|softmax); random ``seed``;
  ASAM ``adaptive`` (before|after|both|None), ``eta`` (0.0); GSAM ``alpha`` (None = off),
  ``gsam_backup`` (raw|gradient|normalized; default raw, the official code's), ``backup_normalized``
  (True = ``gsam_backup: normalized``); ``perturb`` (all|classifier|[parameter-name prefixes]);
  ``sync_perturbation`` (False); ``shrink_perturb`` (factor f: before every update w ← (1 − f·lr/lr₀)·w
  + f·lr/lr₀·w₀, any variant; None = off); not from YAML: ``grad_scaler``, ``process_group``.
Presets: sam {}, gsam {alpha 0.4}, asam {adaptive before, rho 0.5}, obf {ascent obf},
gsam_obf {obf, alpha 0.4}, asam_obf {obf, adaptive before, rho 0.5}, randsam {ascent random},
lsam {perturb classifier}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from samlab.optim.adaptive import AdaptiveScaling
from samlab.optim.ascent import create_ascent
from samlab.optim.base import BASE_OPTIMIZERS, create_base_optimizer  # noqa: F401 - re-exported
from samlab.optim.gsam import GSAMCorrection
from samlab.optim.lsam_effects import create_lsam_effect
from samlab.optim.sam import SAM
from samlab.optim.schedules import create_rho_schedule
from samlab.optim.step import GradientStep


def _plain(
    model: nn.Module,
    base: str = "sgd",
    max_grad_norm: float | None = None,
    grad_scaler: torch.amp.GradScaler | None = None,
    process_group: Any = None,
    shrink_perturb: float | None = None,
    **cfg: Any,
) -> GradientStep:
    return GradientStep(
        create_base_optimizer(base, model, **cfg),
        max_grad_norm=max_grad_norm,
        grad_scaler=grad_scaler,
        process_group=process_group,
        shrink_perturb=shrink_perturb,
        shrink_buffers=list(model.buffers()) if shrink_perturb else None,
    )


def perturbed_parameters(model: nn.Module, perturb: str | list[str]) -> list[torch.Tensor] | None:
    """``all`` → None (every trainable parameter); ``classifier`` → the timm head
    (``model.get_classifier()``); a list → parameters whose names start with one of the prefixes."""
    if perturb == "all":
        return None
    inner = getattr(model, "module", model)  # DistributedDataParallel
    if perturb == "classifier":
        if not hasattr(inner, "get_classifier"):
            raise ValueError(
                "perturb='classifier' needs a model with get_classifier() (timm); pass parameter-name prefixes instead"
            )
        params = [p for p in inner.get_classifier().parameters() if p.requires_grad]
    elif isinstance(perturb, (list, tuple)):
        params = [
            p for n, p in inner.named_parameters() if p.requires_grad and any(n.startswith(str(k)) for k in perturb)
        ]
    else:
        raise ValueError(f"perturb must be 'all', 'classifier' or a list of parameter-name prefixes, got {perturb!r}")
    if not params:
        raise ValueError(f"perturb={perturb!r} selects no trainable parameter")
    return params


def _perturbed(
    model: nn.Module,
    base: str = "sgd",
    rho: float = 0.05,
    rho_schedule: str = "constant",
    rho_min: float | None = None,
    lr_min: float | None = None,
    lr_max: float | None = None,
    perturbation_batch_size: int | None = None,
    ascent: str = "loss",
    gamma: float | None = None,
    lam: float | None = None,
    predictions: str | None = None,
    seed: int | None = None,
    adaptive: str | None = None,
    eta: float = 0.0,
    alpha: float | None = None,
    backup_normalized: bool = False,
    gsam_backup: str | None = None,
    perturb: str | list[str] = "all",
    sync_perturbation: bool = False,
    max_grad_norm: float | None = None,
    grad_scaler: torch.amp.GradScaler | None = None,
    process_group: Any = None,
    shrink_perturb: float | None = None,
    **cfg: Any,
) -> SAM:
    ascent_cfg = {
        k: v for k, v in {"gamma": gamma, "lam": lam, "predictions": predictions, "seed": seed}.items() if v is not None
    }
    if rho_schedule == "lr_prop" and lr_max is None:
        lr_max = cfg.get("lr")
    schedule = create_rho_schedule(rho_schedule, rho, rho_min=rho_min, lr_min=lr_min, lr_max=lr_max)
    ascent_obj = create_ascent(ascent, **ascent_cfg)
    adaptive_obj = AdaptiveScaling(adaptive, eta) if adaptive is not None else None
    if adaptive is None and eta:
        raise ValueError("eta is an ASAM option: set adaptive (before|after|both) too")
    if alpha is None and (backup_normalized or gsam_backup is not None):
        raise ValueError("backup_normalized/gsam_backup are GSAM options: set alpha too")
    gsam = GSAMCorrection(alpha, backup_normalized, backup=gsam_backup) if alpha is not None else None
    subset = perturbed_parameters(model, perturb)
    return SAM(
        create_base_optimizer(base, model, **cfg),
        rho=schedule,
        perturbation_batch_size=perturbation_batch_size,
        max_grad_norm=max_grad_norm,
        ascent=ascent_obj,
        adaptive=adaptive_obj,
        gsam=gsam,
        perturbed_params=subset,
        sync_perturbation=sync_perturbation,
        grad_scaler=grad_scaler,
        process_group=process_group,
        shrink_perturb=shrink_perturb,
        shrink_buffers=list(model.buffers()) if shrink_perturb else None,
    )


def _preset(**preset: Any) -> Callable[..., SAM]:
    return lambda model, **cfg: _perturbed(model, **{**preset, **cfg})


VARIANT_PRESETS: dict[str, dict[str, Any]] = {
    "sam": {},
    "gsam": {"alpha": 0.4},
    "asam": {"adaptive": "before", "rho": 0.5},
    "obf": {"ascent": "obf"},
    "gsam_obf": {"ascent": "obf", "alpha": 0.4},
    "asam_obf": {"ascent": "obf", "adaptive": "before", "rho": 0.5},
    "randsam": {"ascent": "random"},
    "lsam": {"perturb": "classifier"},
}

OPTIMIZERS: dict[str, Callable[..., GradientStep]] = {
    "sgd": lambda model, **cfg: _plain(model, **{"base": "sgd", **cfg}),
    "sgdw": lambda model, **cfg: _plain(model, **{"base": "sgdw", **cfg}),
    "adamw": lambda model, **cfg: _plain(model, **{"base": "adamw", **cfg}),
    **{name: _preset(**preset) for name, preset in VARIANT_PRESETS.items()},
}


def _lsam_effect(mode: str) -> Callable[..., GradientStep]:
    """Paper 2's LSAM ablations (docs/science.md §10): ``samlab.optim.lsam_effects``."""

    def build(model: nn.Module, **cfg: Any) -> GradientStep:
        return create_lsam_effect(model, mode, **cfg)

    return build


OPTIMIZERS["lsam_importance"] = _lsam_effect("importance")  # importance weighting only (λ̃, real backprop)
OPTIMIZERS["lsam_lr_scaling"] = _lsam_effect("lr_scaling")  # LR scaling only (real λ, backprop through ṽ)


def create_optimizer(name: str, model: nn.Module, **cfg: Any) -> GradientStep:
    """Build the optimizer variant ``name`` (see the module docstring for every key) for ``model``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](model, **cfg)
