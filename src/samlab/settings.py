"""Project settings (Kedro defaults except where said)."""

from kedro.config import OmegaConfigLoader

from samlab.hooks import ConfigCaptureHook, OptionalReportInputs, RankZeroWritesHook
from samlab.validation_hook import ValidateParametersHook

HOOKS = (ConfigCaptureHook(), RankZeroWritesHook(), OptionalReportInputs(), ValidateParametersHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
