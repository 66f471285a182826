"""Kedro dataset classes of samlab's own (the rest come from kedro-datasets)."""

from samlab.io.datasets import PreparedDataDataset, TorchCheckpointDataset, TrainingCheckpointsDataset, atomic_write

__all__ = ["PreparedDataDataset", "TorchCheckpointDataset", "TrainingCheckpointsDataset", "atomic_write"]
