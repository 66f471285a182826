"""The SAM family: one wrapper around any base optimizer, variants by name."""

from samlab.optim.factory import OPTIMIZERS, create_base_optimizer, create_optimizer
from samlab.optim.sam import SAM, GradientStep, StepStats
from samlab.optim.schedules import constant_rho

__all__ = ["OPTIMIZERS", "SAM", "GradientStep", "StepStats", "constant_rho", "create_base_optimizer", "create_optimizer"]
