"""Project hooks.

- ``ConfigCaptureHook``: remember the run's config loader so pipelines can be generated from parameters.
- ``RankZeroWritesHook``: under DDP only rank 0 writes pipeline outputs.
- ``OptionalReportInputs``: let the reporting pipeline run on whatever exists so far (see below).
"""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from samlab.pipelines import variants

log = logging.getLogger(__name__)

REPORTING_TAG = "reporting"


class ConfigCaptureHook:
    """Training namespaces come from parameters; this hands the active env's parameters to the registry."""

    @hook_impl
    def after_context_created(self, context) -> None:
        variants.use_config_loader(context.config_loader)


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
        wanted = {name for node in pipeline.nodes if REPORTING_TAG in node.tags for name in node.inputs
                  if name in free and not name.startswith("params:") and name != "parameters"}
        for name in sorted(wanted):
            dataset = catalog.get(name) if name in catalog else None
            if dataset is None or isinstance(dataset, OptionalDataset) or dataset.exists():
                continue
            log.info("report input %r has no data yet: its figure will say so", name)
            catalog[name] = OptionalDataset(dataset)
