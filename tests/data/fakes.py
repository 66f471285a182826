"""Tiny raw files in the exact official formats (the real ones cannot be downloaded here).

- CIFAR: a tar.gz holding ``cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` or
  ``cifar-100-python/{train,test,meta}``, each a protocol-2 pickle of a dict whose ``data`` is a uint8
  (N, 3072) array (R, G, B planes of 32×32), written as Python 2's cPickle wrote them: strings and the
  array's raw bytes as 8-bit ``BINSTRING``s, numpy referenced as ``numpy.core.multiarray._reconstruct``.
- MNIST: gzip'd idx files (magic 0x00000803 / 0x00000801, big-endian sizes, then bytes).
Pixel (0, 0) of the red plane encodes the label (``10 * label``) so tests can check the pairing of
images and labels after splitting and stacking.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


class _Py2Pickler(pickle._Pickler):
    """Python 2 had one 8-bit ``str`` type, pickled as (SHORT_)BINSTRING; Python 3 has no such opcode writer."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def official_pickle(obj) -> bytes:
    """Protocol 2 as Python 2 wrote it, with the pre-numpy-2 module name the official batches use."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def cifar_arrays(n: int, num_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    labels = [int(v) for v in np.arange(n) % num_classes]
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    data[:, 0] = (10 * np.array(labels)).astype(np.uint8)
    return data, labels


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def write_cifar10(
    raw_dir: Path, per_batch: int = 20, test: int = 30, seed: int = 0, replace: dict | None = None
) -> Path:
    """``raw_dir/cifar-10-python.tar.gz`` with 5 × ``per_batch`` train and ``test`` test images, 10 classes."""
    rng = np.random.default_rng(seed)
    members = {}
    for i in range(1, 6):
        data, labels = cifar_arrays(per_batch, 10, rng)
        members[f"cifar-10-batches-py/data_batch_{i}"] = official_pickle(
            {
                "batch_label": f"training batch {i} of 5",
                "labels": labels,
                "data": data,
                "filenames": [f"img_{i}_{j}.png" for j in range(per_batch)],
            }
        )
    data, labels = cifar_arrays(test, 10, rng)
    members["cifar-10-batches-py/test_batch"] = official_pickle(
        {"batch_label": "testing batch 1 of 1", "labels": labels, "data": data, "filenames": ["t.png"] * test}
    )
    members["cifar-10-batches-py/batches.meta"] = official_pickle(
        {
            "num_cases_per_batch": per_batch,
            "num_vis": 3072,
            "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        }
    )
    members.update(replace or {})
    return write_tar(raw_dir / "cifar-10-python.tar.gz", members)


def write_cifar100(raw_dir: Path, train: int = 200, test: int = 100, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    members = {}
    for split, n in (("train", train), ("test", test)):
        data, fine = cifar_arrays(n, 100, rng)
        members[f"cifar-100-python/{split}"] = official_pickle(
            {
                "filenames": ["x.png"] * n,
                "batch_label": split,
                "fine_labels": fine,
                "coarse_labels": [f // 5 for f in fine],
                "data": data,
            }
        )
    members["cifar-100-python/meta"] = official_pickle(
        {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": [f"coarse{i}" for i in range(20)]}
    )
    return write_tar(raw_dir / "cifar-100-python.tar.gz", members)


def write_idx(path: Path, array: np.ndarray) -> Path:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
    return path


def write_mnist(raw_dir: Path, train: int = 60, test: int = 30, seed: int = 0) -> None:
    """Digits whose every pixel is ``20 * label + 5`` (so the class is readable from any pixel)."""
    for prefix, n in (("train", train), ("t10k", test)):
        labels = np.arange(n) % 10
        images = np.broadcast_to((20 * labels + 5).reshape(-1, 1, 1), (n, 28, 28)).astype(np.uint8)
        write_idx(raw_dir / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(raw_dir / f"{prefix}-labels-idx1-ubyte.gz", labels)
