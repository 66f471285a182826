"""Run by ``torchrun`` in tests/train/test_distributed.py: train a tiny model with ``samlab.train.train``
on every rank, once per optimizer config given (one process group for all), and save each rank's final
weights and history (``OUT/rank{r}_{i}.pt``)."""

from __future__ import annotations

import json
import os
import sys

import samlab  # noqa: F401  - the torchvision guard
import torch

from samlab.data import PreparedData, prepare_digits
from samlab.train import train


def tiny_digits(n_train: int = 128) -> PreparedData:
    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = data.splits["train"]
    data.splits["train"] = (images[:n_train], labels[:n_train])
    return data


def main(out: str, optimizers: str, train_cfg: str) -> None:
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    for i, optimizer in enumerate(json.loads(optimizers)):
        result = train(tiny_digits(), {"name": "samlab_mlp"}, optimizer, json.loads(train_cfg), name=f"ddp{i}")
        torch.save(
            {
                "state_dict": result.checkpoint["state_dict"],
                "history": result.history,
                "updates": result.updates,
                "world_size": torch.distributed.get_world_size(),
            },
            os.path.join(out, f"rank{rank}_{i}.pt"),
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
