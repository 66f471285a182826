"""ρ schedules: functions of the current learning rate (science.md §6)."""

from __future__ import annotations

from collections.abc import Callable

RhoSchedule = Callable[[float], float]


def constant_rho(rho: float) -> RhoSchedule:
    if rho < 0 or rho != rho:
        raise ValueError(f"rho must be >= 0, got {rho}")

    def schedule(lr: float) -> float:  # noqa: ARG001 - constant
        return float(rho)

    return schedule
