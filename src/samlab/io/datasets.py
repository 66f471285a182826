"""Kedro datasets for what kedro-datasets has none of: prepared tensor splits and torch checkpoints.

Both write atomically (temp file in the same folder, then ``os.replace``) so a killed run never leaves a
half-written file, and both load without unpickling code (safetensors; ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from kedro.io import AbstractDataset, DatasetError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, safe_open

from samlab._files import atomic_write, describe_load_error, save_torch
from samlab.data.prepared import PreparedData

META_KEY = "samlab"


class PreparedDataDataset(AbstractDataset[PreparedData, PreparedData]):
    """A ``PreparedData`` as one safetensors file (tensors + JSON metadata).

    The metadata is stored under one key, ``samlab``, as one JSON object with sorted keys. Why: safetensors
    writes its metadata map in a random order per process, so several keys would give a byte-different file
    for the same data on every run, and DVC would rerun every stage downstream of an unchanged data set.
    Files with the metadata spread over several keys (samlab before this) are still read."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> PreparedData:
        if not self._filepath.exists():
            raise DatasetError(
                f"prepared data {self._filepath} does not exist: run `kedro run --pipelines data_preparation`"
            )
        try:
            tensors = load_file(str(self._filepath))
            with safe_open(str(self._filepath), framework="pt") as f:
                meta = f.metadata() or {}
            if META_KEY in meta:
                meta = json.loads(meta[META_KEY])
        except (SafetensorError, OSError, ValueError) as exc:
            raise DatasetError(f"{self._filepath} is not a readable safetensors file: {exc}") from exc
        return PreparedData.from_tensors(tensors, meta)

    def save(self, data: PreparedData) -> None:
        tensors, meta = data.to_tensors()
        packed = {META_KEY: json.dumps(meta, sort_keys=True)}  # one key: byte-identical files run to run
        atomic_write(self._filepath, lambda tmp: save_file(tensors, tmp, metadata=packed))

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class TorchCheckpointDataset(AbstractDataset[dict, dict]):
    """A checkpoint dict of tensors and plain values, saved with ``torch.save``, loaded with ``weights_only=True``."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        if not self._filepath.exists():
            raise DatasetError(f"checkpoint {self._filepath} does not exist: run the training pipeline first")
        try:
            return torch.load(self._filepath, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for corrupt or unsafe files
            raise DatasetError(f"cannot load checkpoint {self._filepath} safely: {describe_load_error(exc)}") from None

    def save(self, data: dict) -> None:
        save_torch(data, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class TrainingCheckpointsDataset(AbstractDataset[Any, None]):
    """The folder of a training run's per-epoch resumable checkpoints, handed to the node as a store.

    Why a handle and not a value: the training node must write a checkpoint after *every* epoch (so a
    killed run can resume), while Kedro saves a node's outputs only when it returns. Loading this
    dataset gives a ``samlab.train.CheckpointStore`` bound to ``filepath``: the catalog still decides
    where checkpoints live, the node stays a function of its inputs, and the files are versioned by
    epoch (``epoch-0007.pt``), each written atomically and read with ``weights_only=True``. The final
    weights remain the ``{namespace}.model`` output.
    """

    def __init__(self, filepath: str, keep: int | None = 2, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self._keep = keep
        self.metadata = metadata

    def load(self):
        from samlab.train.checkpoint import CheckpointStore  # the core imports samlab.io, not the reverse

        return CheckpointStore(self._filepath, keep=self._keep)

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{self._filepath}: checkpoints are written by the training loop through the store "
            "this dataset loads, not saved as a node output"
        )

    def _exists(self) -> bool:
        return self._filepath.is_dir() and any(self._filepath.glob("epoch-*.pt"))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "keep": self._keep}
