"""The SAM family: one wrapper around any base optimizer, variants by name."""

from samlab.optim.adaptive import AdaptiveScaling
from samlab.optim.ascent import (
    ASCENTS,
    Ascent,
    LossAscent,
    OBFAscent,
    RandomAscent,
    create_ascent,
)
from samlab.optim.base import BASE_OPTIMIZERS, SGDW, create_base_optimizer
from samlab.optim.batchnorm import frozen_batchnorm_stats
from samlab.optim.factory import OPTIMIZERS, VARIANT_PRESETS, create_optimizer
from samlab.optim.gsam import GSAMCorrection
from samlab.optim.sam import SAM, SAMBuffers
from samlab.optim.schedules import (
    RHO_SCHEDULES,
    ConstantRho,
    LRProportionalRho,
    constant_rho,
    create_rho_schedule,
)
from samlab.optim.stats import StepStats
from samlab.optim.step import GradientStep

__all__ = [
    "ASCENTS",
    "BASE_OPTIMIZERS",
    "OPTIMIZERS",
    "RHO_SCHEDULES",
    "SAM",
    "SGDW",
    "VARIANT_PRESETS",
    "AdaptiveScaling",
    "Ascent",
    "ConstantRho",
    "GSAMCorrection",
    "GradientStep",
    "LRProportionalRho",
    "LossAscent",
    "OBFAscent",
    "RandomAscent",
    "SAMBuffers",
    "StepStats",
    "constant_rho",
    "create_ascent",
    "create_base_optimizer",
    "create_optimizer",
    "create_rho_schedule",
    "frozen_batchnorm_stats",
]
