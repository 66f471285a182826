"""Several processes with PyTorch DDP, launched by ``torchrun`` (torch elastic), never by samlab itself.

``torchrun --nproc-per-node N -m kedro run --pipelines training`` (or any script calling ``train``) starts N
processes with ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` in the environment;
``init_from_env`` joins the process group from those (gloo on CPU, nccl on GPU). What each piece does:
- the model is wrapped in ``DistributedDataParallel`` (broadcasts rank 0's initial weights and buffers);
- every rank draws the same global batch (same seed) and keeps its own slice (``shard``);
- the optimizer runs both SAM passes under ``model.no_sync()`` — each rank perturbs with its own local
  gradient — and averages the final gradients once per update inside ``opt.step()`` (``samlab.optim``);
- only rank 0 writes (checkpoints here; pipeline outputs through ``samlab.hooks.RankZeroWritesHook``).
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_rank() -> int:
    """This process's rank as the launcher set it (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


def init_from_env(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun described in the environment; a no-op for a single process.

    Returns the rank layout and the device this rank trains on (``cuda:LOCAL_RANK`` on GPUs).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        atexit.register(_destroy)
        log.info("joined process group: rank %d/%d (local %d), backend %s", rank, world, local_rank, backend)
    elif dist.get_world_size() != world:
        raise RuntimeError(f"process group has {dist.get_world_size()} ranks but WORLD_SIZE={world}")
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world), device


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP around ``model`` when several ranks run; the optimizer keeps referring to the same parameters."""
    if not info.enabled:
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under ``torch.compile`` and DDP wrappers (for state dicts and evaluation)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def shard(batch: Tensor, info: DistInfo) -> Tensor:
    """This rank's contiguous slice of a global batch (the batch size is checked to divide beforehand)."""
    if not info.enabled:
        return batch
    per_rank = batch.shape[0] // info.world_size
    return batch[info.rank * per_rank : (info.rank + 1) * per_rank]


def all_reduce_sum(values: Tensor, info: DistInfo) -> Tensor:
    """Sum a small tensor of statistics over ranks (one collective per epoch for the history)."""
    if info.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
