"""Data readers and synthetic sets, Kedro-free; everything ends as a ``PreparedData``.

Embedded (no download): ``digits``, ``toy`` (two-feature), ``dominoes`` (digit dominoes). Real files read
from ``data/01_raw`` (``samlab.data.raw`` makes that safe): ``cifar10``, ``cifar100``, ``mnist``,
``cifar_mnist``, ``image_folder`` (streamed). Batches: ``make_loader`` for any kind.
"""

from samlab.data.augment import CentreCrop, CropFlip, ResizedCropFlip, create_augment
from samlab.data.cifar import prepare_cifar10, prepare_cifar100, read_cifar
from samlab.data.digits import digits_images, prepare_digits, stratified_split
from samlab.data.dominoes import prepare_cifar_mnist, prepare_dominoes
from samlab.data.image_folder import prepare_image_folder, stream_loader
from samlab.data.loader import TensorLoader, load_subset, make_loader, subset_indices
from samlab.data.mnist import prepare_mnist, read_mnist
from samlab.data.prepared import PreparedData, channel_stats
from samlab.data.raw import MissingRawFileError, RawDataError
from samlab.data.toy import TWO_FEATURE_SPLITS, prepare_toy

DATASETS = {
    "digits": prepare_digits,
    "toy": prepare_toy,
    "dominoes": prepare_dominoes,
    "cifar10": prepare_cifar10,
    "cifar100": prepare_cifar100,
    "mnist": prepare_mnist,
    "cifar_mnist": prepare_cifar_mnist,
    "image_folder": prepare_image_folder,
}


def prepare_dataset(name: str, **cfg) -> PreparedData:
    """Build the prepared data set ``name`` from configuration."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name](**cfg)


__all__ = [
    "DATASETS",
    "TWO_FEATURE_SPLITS",
    "CentreCrop",
    "CropFlip",
    "ResizedCropFlip",
    "MissingRawFileError",
    "PreparedData",
    "RawDataError",
    "TensorLoader",
    "channel_stats",
    "create_augment",
    "digits_images",
    "load_subset",
    "make_loader",
    "subset_indices",
    "prepare_cifar10",
    "prepare_cifar100",
    "prepare_cifar_mnist",
    "prepare_dataset",
    "prepare_digits",
    "prepare_dominoes",
    "prepare_image_folder",
    "prepare_mnist",
    "prepare_toy",
    "read_cifar",
    "read_mnist",
    "stratified_split",
    "stream_loader",
]
