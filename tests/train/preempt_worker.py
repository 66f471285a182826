"""Run as a subprocess by tests/train/test_preemption.py: train a tiny timm EfficientNet with SAM on a digits
subset, checkpointing every 4 updates into CKPT; at update ``AT`` it sends itself ``SIGNAL`` (``none``: never).
Writes the final weights, history and per-update rows to OUT."""

from __future__ import annotations

import os
import signal
import sys

import samlab  # noqa: F401  - the torchvision guard
import torch

from samlab.data import prepare_digits
from samlab.train import CheckpointStore, train

MODEL = {"name": "test_efficientnet", "drop_rate": 0.2}  # BatchNorm + dropout: buffers and RNG must resume
OPTIMIZER = {"name": "sam", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "rho": 0.05}
TRAIN = {
    "epochs": 2,
    "batch_size": 32,
    "warmup_epochs": 1,
    "seed": 3,
    "progress": False,
    "augment": {"crop_padding": 2, "hflip": True},  # the loader's generator draws every batch
    "checkpoint_every_n_updates": 4,
}


def data():
    d = prepare_digits(16, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = d.splits["train"]
    d.splits["train"] = (images[:320], labels[:320])  # 10 updates per epoch
    return d


def main(out: str, ckpt: str, resume: str, sig: str, at: str) -> None:
    """Also called in-process by the test (the reference and the last resumed run)."""
    torch.set_num_threads(1)

    def on_step(update, stats):  # every run has the hook, so every run asks for the same outputs
        if sig != "none" and update == int(at):
            os.kill(os.getpid(), getattr(signal, sig))

    logging_dir = os.path.join(os.path.dirname(out), "logs", "{name}")
    result = train(
        data(),
        MODEL,
        OPTIMIZER,
        {**TRAIN, "resume": resume == "1", "logging": {"every_n_updates": 3, "dir": logging_dir}},
        name="run",
        checkpoints=CheckpointStore(ckpt, keep=3),
        on_step=on_step,
    )
    torch.save(
        {"state_dict": result.checkpoint["state_dict"], "history": result.history, "updates": result.updates}, out
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
