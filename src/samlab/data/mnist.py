"""MNIST from the official idx ``.gz`` files (LeCun et al.), checksum-verified, parsed with numpy only."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from samlab.data.cifar import split_train
from samlab.data.prepared import PreparedData, channel_stats
from samlab.data.raw import RawDataError, require_file, verify_md5

MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_ORIGINAL = "http://yann.lecun.com/exdb/mnist/"


def mnist_source(name: str) -> str:
    """Where to download one MNIST file: the mirror, and the original site."""
    return f"{MNIST_MIRROR}{name} (or the original {MNIST_ORIGINAL}{name})"


MNIST_FILES = {  # the published checksums
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx file of unsigned bytes: magic 0x0000 08 <ndim>, ndim big-endian int32 sizes, then the data."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise RawDataError(f"{path} is truncated or not a gzip file: {exc}") from exc
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] != ndim:
        raise RawDataError(f"{path}: not an idx file of unsigned bytes with {ndim} dimension(s)")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(shape)):
        raise RawDataError(f"{path}: header says {shape} = {int(np.prod(shape))} bytes, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_mnist(
    raw_dir: str | Path = "data/01_raw", verify_checksum: bool = True
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Official train (60k) and test (10k) splits as uint8 (N, 1, 28, 28) and int64 labels
    (``verify_checksum=False`` accepts non-official files, e.g. a subset)."""
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        arrays = []
        for kind, ndim in (("images-idx3", 3), ("labels-idx1", 1)):
            name = f"{prefix}-{kind}-ubyte.gz"
            path = require_file(Path(raw_dir) / name, mnist_source(name))
            verify_md5(path, MNIST_FILES[name] if verify_checksum else None)
            arrays.append(read_idx(path, ndim))
        images, labels = arrays
        if len(images) != len(labels) or (len(labels) and labels.max() > 9):
            raise RawDataError(f"MNIST {split}: {len(images)} images but {len(labels)} labels (or a label > 9)")
        out[split] = (torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))
    return out


def resize_images(images: torch.Tensor, image_size: int, in_chans: int) -> torch.Tensor:
    """Bilinear resize of uint8 (N, C, H, W) images; grey replicated to ``in_chans``."""
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3, got {in_chans}")
    if images.shape[-1] != image_size:
        images = F.interpolate(images.float(), size=(image_size, image_size), mode="bilinear", align_corners=False)
        images = images.round().clamp(0, 255).to(torch.uint8)
    return images.expand(-1, in_chans, -1, -1).contiguous() if images.shape[1] == 1 else images


def prepare_mnist(
    raw_dir: str = "data/01_raw",
    image_size: int = 28,
    in_chans: int = 1,
    val_fraction: float = 0.1,
    seed: int = 0,
    verify_checksum: bool = True,
) -> PreparedData:
    raw = read_mnist(raw_dir, verify_checksum)
    raw = {k: (resize_images(x, image_size, in_chans), y) for k, (x, y) in raw.items()}
    splits = split_train(*raw["train"], val_fraction, seed)
    splits["test"] = raw["test"]
    mean, std = channel_stats(splits["train"][0])
    return PreparedData("mnist", splits, mean, std, [str(d) for d in range(10)], {"source": "mnist idx"})
