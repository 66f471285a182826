"""``ValidateParametersHook``: every parameters block the run uses is checked before its first node.

Why a hook: ``kedro run`` (and ``dvc repro``, which runs it) would otherwise find a bad setting only when the
node that reads it runs, after hours of other variants' training; here every problem is listed at once and
nothing is written. The checks themselves are Kedro-free (``samlab.config``).
"""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

from samlab.config import ConfigError, blocks_used, validate_parameters

log = logging.getLogger(__name__)


class ValidateParametersHook:
    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        params = catalog.load("parameters")
        blocks = blocks_used(pipeline.inputs())
        problems = validate_parameters(params, blocks)
        if problems:
            raise ConfigError(problems, f"the parameters (env {run_params.get('env') or 'local'})")
        log.info("parameters checked: %s", ", ".join(sorted(blocks)) or "none used")
