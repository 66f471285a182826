"""Data readers and synthetic sets, Kedro-free; everything ends as a ``PreparedData``."""

from samlab.data.digits import digits_images, prepare_digits, stratified_split
from samlab.data.loader import TensorLoader
from samlab.data.prepared import PreparedData, channel_stats

DATASETS = {"digits": prepare_digits}


def prepare_dataset(name: str, **cfg) -> PreparedData:
    """Build the prepared data set ``name`` from configuration."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name](**cfg)


__all__ = ["DATASETS", "PreparedData", "TensorLoader", "channel_stats", "digits_images", "prepare_dataset", "prepare_digits", "stratified_split"]
