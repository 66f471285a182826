"""ρ schedules: functions of the current learning rate (docs/science.md §6).

A schedule is any ``Callable[[float], float]`` taking the current LR; the wrapper calls it at every
perturbation, so it follows whatever LR scheduler edits ``param_groups``. ``describe`` gives the config
that rebuilds it (stored in the optimizer's ``state_dict``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

RhoSchedule = Callable[[float], float]


def _check_rho(rho: float, what: str = "rho") -> float:
    rho = float(rho)
    if not rho >= 0 or rho == float("inf"):  # also refuses NaN
        raise ValueError(f"{what} must be >= 0 and finite, got {rho}")
    return rho


class ConstantRho:
    """ρ_t = ρ."""

    def __init__(self, rho: float):
        self.rho = _check_rho(rho)

    def __call__(self, lr: float) -> float:  # noqa: ARG002 - constant
        return self.rho

    def describe(self) -> dict[str, Any]:
        return {"name": "constant", "rho": self.rho}


class LRProportionalRho:
    """GSAM's ρ_t = max(0, ρ_min + (ρ_max − ρ_min)·(lr_t − lr_min)/(lr_max − lr_min)).

    Warm-up ramps ρ up with the LR, decay brings it to ρ_min. ``lr_max`` is the peak LR (the base
    optimizer's configured LR by default), ``lr_min`` the final LR of the LR schedule.
    """

    def __init__(self, rho: float, lr_max: float, rho_min: float = 0.0, lr_min: float = 0.0):
        self.rho = _check_rho(rho)
        self.rho_min = _check_rho(rho_min, "rho_min")
        if self.rho_min > self.rho:
            raise ValueError(f"rho_min must be <= rho, got rho_min={rho_min} > rho={rho}")
        if not lr_max > lr_min:
            raise ValueError(f"lr_prop needs lr_max > lr_min, got lr_max={lr_max}, lr_min={lr_min}")
        self.lr_max, self.lr_min = float(lr_max), float(lr_min)

    def __call__(self, lr: float) -> float:
        frac = (lr - self.lr_min) / (self.lr_max - self.lr_min)
        return max(0.0, self.rho_min + (self.rho - self.rho_min) * frac)

    def describe(self) -> dict[str, Any]:
        return {
            "name": "lr_prop",
            "rho": self.rho,
            "rho_min": self.rho_min,
            "lr_max": self.lr_max,
            "lr_min": self.lr_min,
        }


def constant_rho(rho: float) -> RhoSchedule:
    return ConstantRho(rho)


RHO_SCHEDULES: dict[str, Callable[..., RhoSchedule]] = {"constant": ConstantRho, "lr_prop": LRProportionalRho}


def create_rho_schedule(name: str, rho: float, **cfg: Any) -> RhoSchedule:
    """``constant`` (needs ``rho``) or ``lr_prop`` (``rho`` = ρ_max, ``lr_max``, ``rho_min``, ``lr_min``)."""
    if name not in RHO_SCHEDULES:
        raise ValueError(f"unknown rho schedule {name!r}; known: {sorted(RHO_SCHEDULES)}")
    if name == "constant":
        extra = {k: v for k, v in cfg.items() if v is not None}
        if extra:
            raise ValueError(f"rho schedule 'constant' takes only rho, got {sorted(extra)}")
        return ConstantRho(rho)
    return LRProportionalRho(rho, **{k: v for k, v in cfg.items() if v is not None})
