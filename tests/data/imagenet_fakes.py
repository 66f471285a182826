"""Tiny image sets in the exact layouts of ImageNet and its robustness sets (real ones cannot be downloaded here).

- ImageNet (ILSVRC2012): ``<root>/train/<wnid>/<wnid>_<k>.JPEG`` and ``<root>/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG``
  (the validation images re-sorted into class folders; file numbers 1..N as in the official val set);
- ReaL: a JSON list with one list of class indices per validation image, in file-number order (some empty);
- ImageNet-V2: ``<root>/<class index 0..999>/<hash>.jpeg`` (numeric folder names are class indices);
- ImageNet-R / -Sketch: ``<root>/<wnid>/<name>.jpg`` over a subset of the classes.
Each image is a flat colour given by its class plus noise, so a tiny model can learn them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331"]


def _image(label: int, size: int, rng: np.random.Generator) -> Image.Image:
    base = np.array([(label * 97) % 256, (label * 53 + 40) % 256, (label * 29 + 90) % 256], dtype=np.float64)
    h = size + int(rng.integers(0, size // 2 + 1))  # non-square, as real photographs
    arr = base + rng.normal(0, 20, size=(h, size, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def write_imagenet(
    root: Path, wnids: list[str] = WNIDS, n_train: int = 8, n_val: int = 3, size: int = 40, seed: int = 0
) -> list[str]:
    """Returns the val file names in file-number order."""
    rng = np.random.default_rng(seed)
    number = 0
    for label, wnid in enumerate(wnids):
        (root / "train" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "val" / wnid).mkdir(parents=True, exist_ok=True)
        for k in range(n_train):
            _image(label, size, rng).save(root / "train" / wnid / f"{wnid}_{k}.JPEG", quality=90)
        for _ in range(n_val):
            number += 1
            _image(label, size, rng).save(root / "val" / wnid / f"ILSVRC2012_val_{number:08d}.JPEG", quality=90)
    return [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, number + 1)]


def write_real(path: Path, labels: list[list[int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(labels))
    return path


def write_v2(root: Path, num_classes: int = len(WNIDS), per_class: int = 2, size: int = 40, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    for label in range(num_classes):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            _image(label, size, rng).save(root / str(label) / f"{label:04d}{k:036x}.jpeg", quality=90)
    return root


def write_class_folders(
    root: Path, wnids: list[str], per_class: int = 2, size: int = 40, seed: int = 2, all_wnids: list[str] = WNIDS
) -> Path:
    rng = np.random.default_rng(seed)
    for wnid in wnids:
        (root / wnid).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            _image(all_wnids.index(wnid), size, rng).save(root / wnid / f"art_{k}.jpg", quality=90)
    return root
