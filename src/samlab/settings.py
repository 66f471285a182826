"""Project settings (Kedro defaults except where said)."""

from kedro.config import OmegaConfigLoader

from samlab.hooks import OptionalReportInputs, RankZeroWritesHook, ValidateParametersHook, VariantListCheck

HOOKS = (VariantListCheck(), ValidateParametersHook(), RankZeroWritesHook(), OptionalReportInputs())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
