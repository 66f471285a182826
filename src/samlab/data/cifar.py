"""CIFAR-10 / CIFAR-100 from the official python archives (Krizhevsky 2009), checksum-verified.

The archive is verified against its published MD5, extracted with tarfile's data filter into a temporary
folder and its batches unpickled with the restricted unpickler (``samlab.data.raw``): nothing from the
archive can run code, and a failure leaves no partial output.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from samlab.data.digits import stratified_split
from samlab.data.prepared import PreparedData, channel_stats
from samlab.data.raw import RawDataError, extract_archive, require_file, restricted_load, verify_md5


@dataclass(frozen=True)
class CifarFormat:
    archive: str
    md5: str
    folder: str
    train: tuple[str, ...]
    test: str
    meta: str
    url: str


CIFAR = {
    "cifar10": CifarFormat(
        "cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    ),
    "cifar100": CifarFormat(
        "cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        ("train",),
        "test",
        "meta",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    ),
}


@dataclass
class CifarRaw:
    """The official splits as uint8 (N, 3, 32, 32) and int64 labels."""

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    class_names: list[str]
    md5: str


def _batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    d = restricted_load(path)
    if not isinstance(d, dict) or "data" not in d or label_key not in d:
        raise RawDataError(f"{path.name}: not a CIFAR batch (need a dict with 'data' and {label_key!r})")
    x, y = d["data"], np.asarray(d[label_key], dtype=np.int64)
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(y) != len(x):
        raise RawDataError(
            f"{path.name}: 'data' must be uint8 (N, 3072) with N labels, got "
            f"{getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')} and {len(y)} labels"
        )
    return x.reshape(-1, 3, 32, 32), y


def read_cifar(
    name: str,
    raw_dir: str | Path = "data/01_raw",
    md5: str | None = "published",
    labels: str = "fine",
    verify_checksum: bool = True,
) -> CifarRaw:
    """Read ``cifar10``/``cifar100`` (``labels``: ``fine`` or ``coarse`` for 100) from ``raw_dir``.

    ``md5="published"`` checks the official checksum; a string checks that one; ``None`` or
    ``verify_checksum=False`` (the key every archive reader shares) skips the check, e.g. for a subset.
    """
    if name not in CIFAR:
        raise ValueError(f"unknown CIFAR variant {name!r}; known: {sorted(CIFAR)}")
    if labels not in ("fine", "coarse"):
        raise ValueError(f"labels must be 'fine' or 'coarse', got {labels!r}")
    fmt = CIFAR[name]
    archive = require_file(Path(raw_dir) / fmt.archive, fmt.url)
    actual = verify_md5(archive, None if not verify_checksum else fmt.md5 if md5 == "published" else md5)
    label_key = "labels" if name == "cifar10" else f"{labels}_labels"
    names_key = "label_names" if name == "cifar10" else f"{labels}_label_names"
    with tempfile.TemporaryDirectory(prefix="samlab-cifar-") as tmp:
        extract_archive(archive, Path(tmp))
        folder = Path(tmp) / fmt.folder

        def member(file: str) -> Path:
            path = folder / file
            if not path.is_file():
                raise RawDataError(f"{archive}: missing {fmt.folder}/{file}; not an official {name} archive")
            return path

        parts = [_batch(member(f), label_key) for f in fmt.train]
        test = _batch(member(fmt.test), label_key)
        meta = restricted_load(member(fmt.meta))
        if not isinstance(meta, dict) or names_key not in meta:
            raise RawDataError(f"{fmt.meta}: no {names_key!r} in the archive's meta file")
        class_names = [str(n) for n in meta[names_key]]
    x = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    for split, labels_ in (("train", y), ("test", torch.from_numpy(test[1]))):
        if labels_.numel() and (labels_.min() < 0 or labels_.max() >= len(class_names)):
            raise RawDataError(f"{archive}: {split} labels outside 0..{len(class_names) - 1}")
    return CifarRaw((x, y), (torch.from_numpy(test[0]), torch.from_numpy(test[1])), class_names, actual)


def split_train(images: torch.Tensor, labels: torch.Tensor, val_fraction: float, seed: int) -> dict[str, tuple]:
    """A fixed stratified train/val split of the official training set (``val_fraction`` 0: no val)."""
    if val_fraction == 0:
        return {"train": (images, labels)}
    idx = stratified_split(labels.numpy(), {"train": 1 - val_fraction, "val": val_fraction}, seed)
    return {k: (images[torch.from_numpy(i)], labels[torch.from_numpy(i)]) for k, i in idx.items()}


def prepare_cifar(
    variant: str,
    raw_dir: str = "data/01_raw",
    val_fraction: float = 0.1,
    seed: int = 0,
    md5: str | None = "published",
    labels: str = "fine",
    verify_checksum: bool = True,
) -> PreparedData:
    raw = read_cifar(variant, raw_dir, md5, labels, verify_checksum)
    splits = split_train(*raw.train, val_fraction, seed)
    splits["test"] = raw.test
    mean, std = channel_stats(splits["train"][0])
    extra = {"source": CIFAR[variant].archive, "md5": raw.md5}
    if variant == "cifar100":
        extra["labels"] = labels
    return PreparedData(variant, splits, mean, std, raw.class_names, extra)


def prepare_cifar10(
    raw_dir: str = "data/01_raw",
    val_fraction: float = 0.1,
    seed: int = 0,
    md5: str | None = "published",
    verify_checksum: bool = True,
) -> PreparedData:
    return prepare_cifar("cifar10", raw_dir, val_fraction, seed, md5, "fine", verify_checksum)


def prepare_cifar100(
    raw_dir: str = "data/01_raw",
    val_fraction: float = 0.1,
    seed: int = 0,
    md5: str | None = "published",
    labels: str = "fine",
    verify_checksum: bool = True,
) -> PreparedData:
    return prepare_cifar("cifar100", raw_dir, val_fraction, seed, md5, labels, verify_checksum)
