"""Kedro dataset classes of samlab's own (the rest come from kedro-datasets)."""

from samlab.io.datasets import PreparedDataDataset, TorchCheckpointDataset, TrainingCheckpointsDataset, atomic_write
from samlab.io.optional import OptionalDataset

__all__ = [
    "OptionalDataset",
    "PreparedDataDataset",
    "TorchCheckpointDataset",
    "TrainingCheckpointsDataset",
    "atomic_write",
]
