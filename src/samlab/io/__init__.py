"""Kedro dataset classes of samlab's own (the rest come from kedro-datasets)."""

from samlab.io.datasets import PreparedDataDataset, TorchCheckpointDataset, atomic_write
from samlab.io.optional import OptionalDataset

__all__ = ["OptionalDataset", "PreparedDataDataset", "TorchCheckpointDataset", "atomic_write"]
