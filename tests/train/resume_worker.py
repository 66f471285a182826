"""Run as a subprocess by tests/train/test_resume.py: train a tiny timm EfficientNet with SAM on a digits subset,
checkpointing every epoch into CKPT; write the final weights and history to OUT (``final.pt``)."""

from __future__ import annotations

import sys

import samlab  # noqa: F401  - the torchvision guard
import torch

from samlab.data import prepare_digits
from samlab.train import CheckpointStore, train

MODEL = {"name": "test_efficientnet", "drop_rate": 0.2}  # BatchNorm + dropout: buffers and RNG must resume
OPTIMIZER = {"name": "sam", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "rho": 0.05}
TRAIN = {"epochs": 3, "batch_size": 32, "warmup_epochs": 1, "seed": 3, "progress": False}


def data():
    d = prepare_digits(16, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = d.splits["train"]
    d.splits["train"] = (images[:384], labels[:384])
    return d


def main(out: str, ckpt: str, resume: str) -> None:
    torch.set_num_threads(1)
    result = train(
        data(),
        MODEL,
        OPTIMIZER,
        {**TRAIN, "resume": resume == "1"},
        name="resume",
        checkpoints=CheckpointStore(ckpt, keep=None),
    )
    torch.save({"state_dict": result.checkpoint["state_dict"], "history": result.history}, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
