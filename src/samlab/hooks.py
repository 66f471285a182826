"""Project hooks: remember the run's config loader so pipelines can be generated from parameters."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from samlab.pipelines import variants


class ConfigCaptureHook:
    """Training namespaces come from parameters; this hands the active env's parameters to the registry."""

    @hook_impl
    def after_context_created(self, context) -> None:
        variants.use_config_loader(context.config_loader)
