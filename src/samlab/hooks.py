"""Project hooks: remember the run's config loader so pipelines can be generated from parameters, and
let only DDP rank 0 write pipeline outputs."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from samlab.pipelines import variants

log = logging.getLogger(__name__)


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
