"""Training: the loop, resumable checkpoints, DDP under torchrun."""

from samlab.train.checkpoint import CheckpointStore
from samlab.train.loop import TrainConfig, TrainResult, train
from samlab.train.losses import create_loss

__all__ = ["CheckpointStore", "TrainConfig", "TrainResult", "create_loss", "train"]
