"""Project hooks.

- ``VariantListCheck``: refuse a run whose environment lists other training variants than the pipelines.
- ``RankZeroWritesHook``: under DDP only rank 0 writes pipeline outputs.
- ``OptionalReportInputs``: let the reporting pipeline run on whatever exists so far (see below).
"""

from __future__ import annotations

import logging
import os

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

log = logging.getLogger(__name__)

REPORTING_TAG = "reporting"


class VariantListCheck:
    """The pipelines are built from the parameters of ``KEDRO_ENV`` (``samlab.pipeline_registry``): Kedro does not
    hand its pipeline registry the ``--env`` or ``--params`` of the run. This check reads the run's own
    parameters (the context's config loader, env and runtime parameters included) and stops the run before any
    node runs when they list other variants, saying how to run it instead. It only compares; it stores nothing.
    """

    @hook_impl
    def after_context_created(self, context) -> None:
        from samlab.pipeline_registry import run_parameters
        from samlab.pipelines.variants import variant_names

        wanted = variant_names(context.config_loader["parameters"])
        built = variant_names(run_parameters())
        if wanted != built:
            raise ValueError(
                f"the run's parameters (env {context.env!r}) list the training variants {wanted}, but the pipelines "
                f"were built for {built} from the environment {os.environ.get('KEDRO_ENV') or 'local'!r}: Kedro does "
                f"not tell its pipeline registry the --env, so select an environment that changes the variant list "
                f"with KEDRO_ENV (e.g. `KEDRO_ENV={context.env} kedro run`); --params cannot add or remove variants"
            )


class ValidateParametersHook:
    """Every parameters block the run uses is checked before its first node (the checks: ``samlab.config``).

    Why a hook: ``kedro run`` (and ``dvc repro``, which runs it) would otherwise find a bad setting only when the
    node that reads it runs, after hours of other variants' training; here every problem is listed at once and
    nothing is written.
    """

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from samlab.config import ConfigError, blocks_used, validate_parameters

        params = catalog.load("parameters")
        blocks = blocks_used(pipeline.inputs())
        problems = validate_parameters(params, blocks)
        if problems:
            raise ConfigError(problems, f"the parameters (env {run_params.get('env') or 'local'})")
        log.info("parameters checked: %s", ", ".join(sorted(blocks)) or "none used")


class RankZeroWritesHook:
    """Under ``torchrun`` every rank runs the same ``kedro run``; only rank 0 may write files.

    On the other ranks every output of the run is swapped for a ``MemoryDataset`` before it starts, so
    downstream nodes still receive their inputs but nothing reaches disk. A single process is rank 0.
    """

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:  # noqa: ARG002 - hook signature
        from samlab.train.distributed import env_rank

        rank = env_rank()
        if rank == 0:
            return
        outputs = sorted(pipeline.all_outputs())
        for name in outputs:
            catalog[name] = MemoryDataset(copy_mode="assign")
        log.info("rank %d: %d outputs kept in memory (only rank 0 writes)", rank, len(outputs))


class OptionalReportInputs:
    """Reporting inputs that this run does not produce and that have no data on disk load as ``None``.

    Why a hook: the tables belong to their producing pipelines' catalog entries (their types, their kedro-viz
    previews), and an input that is produced earlier in the same run must stay an ordinary dependency. So only
    the *free* inputs of this run's reporting nodes whose data is missing are wrapped in
    ``samlab.io.OptionalDataset``, just before the runner starts; the figure then says which pipeline to run.
    Every other node keeps Kedro's usual error for missing input data.
    """

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from samlab.io import OptionalDataset

        free = pipeline.inputs()
        wanted = {
            name
            for node in pipeline.nodes
            if REPORTING_TAG in node.tags
            for name in node.inputs
            if name in free and not name.startswith("params:") and name != "parameters"
        }
        for name in sorted(wanted):
            dataset = catalog.get(name) if name in catalog else None
            if dataset is None or isinstance(dataset, OptionalDataset) or dataset.exists():
                continue
            log.info("report input %r has no data yet: its figure will say so", name)
            catalog[name] = OptionalDataset(dataset)
