"""Training: the loop, losses, (later) checkpoints and DDP launch."""

from samlab.train.loop import TrainConfig, TrainResult, train
from samlab.train.losses import create_loss

__all__ = ["TrainConfig", "TrainResult", "create_loss", "train"]
