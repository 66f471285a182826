"""Typed configuration and up-front validation of every parameters block (Kedro-free).

``validate_parameters(params)`` lists every problem of a run's parameters (unknown keys with a did-you-mean,
wrong types, out-of-range values, unknown optimizer/model/data set names, m not dividing the batch, a batch
larger than the data); ``check_parameters`` raises them as one ``ConfigError``. The Kedro hook
(``samlab.hooks.ValidateParametersHook``), ``samlab validate`` and ``samlab.train.train`` use the same checks.
"""

from samlab.config.problems import (
    ConfigError,
    Problem,
    did_you_mean,
    raise_unknown_keys,
    unknown_keys,
)

_LAZY = {
    "validate_parameters",
    "check_parameters",
    "variant_blocks",
    "blocks_used",
    "split_data_options",
    "check_training",
    "check_optimizer",
    "check_data",
}


def __getattr__(name: str):
    # the validator imports the loop, the factories and the data readers; the loop imports this package for
    # ConfigError, so the heavy part loads on first use
    if name in _LAZY:
        from samlab.config import validate

        return getattr(validate, name)
    raise AttributeError(f"module 'samlab.config' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "Problem",
    "blocks_used",
    "check_data",
    "check_optimizer",
    "check_parameters",
    "check_training",
    "did_you_mean",
    "raise_unknown_keys",
    "split_data_options",
    "unknown_keys",
    "validate_parameters",
    "variant_blocks",
]
