"""Evaluation-only image sets read from files, streamed (never held whole in memory): ImageNet's robustness sets.

Formats (``format:`` of a set's config):
- ``class_folders``: ``<root>/<class name>/<image>`` with class names among the model's (WordNet ids for
  ImageNet-R, ImageNet-Sketch, ImageNet-A); the classes a folder covers are recorded for logit masking;
- ``class_index``: ``<root>/<k>/<image>`` with ``k`` the class index 0..C-1 (ImageNet-V2's layout);
- ``real``: ImageNet ReaL — the validation images (flat or in class folders, named
  ``ILSVRC2012_val_<n>.JPEG``) with the multi-label sets of a ReaL ``real.json`` (entry n−1 is image n's
  list of class indices); images with an empty set are dropped; targets are multi-hot;
- ``corruption_folders``: ImageNet-C, ``<root>/<corruption>/<severity>/<wnid>/<image>``, one set per
  corruption × severity.
Batches come from a worker ``DataLoader`` with the eval transform (resize, centre crop, normalise).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from samlab.data.raw import MissingRawFileError, RawDataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
FORMATS = ("class_folders", "class_index", "real", "corruption_folders")
_VAL_NUMBER = re.compile(r"ILSVRC2012_val_(\d+)\.", re.IGNORECASE)


@dataclass
class FileSet:
    """One evaluation set: image files and their targets (a class index, or a list of them for ReaL)."""

    name: str
    files: list[str]
    targets: list[Any]
    num_classes: int
    covered_classes: list[int] = field(default_factory=list)  # classes with at least one image
    multi_label: bool = False

    def __len__(self) -> int:
        return len(self.files)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _require(root: Path, what: str) -> None:
    if not root.is_dir():
        raise MissingRawFileError(f"{what} folder {root} not found (see docs/data.md for its layout and source)")


def class_folders(name: str, root: str | Path, class_names: list[str]) -> FileSet:
    root = Path(root)
    _require(root, name)
    index = {c: i for i, c in enumerate(class_names)}
    files, targets = [], []
    for folder in _subdirs(root):
        if folder.name not in index:
            raise RawDataError(
                f"{root}: class folder {folder.name!r} is not among the model's {len(class_names)} classes"
            )
        for f in _images(folder):
            files.append(str(f))
            targets.append(index[folder.name])
    if not files:
        raise RawDataError(f"{root}: no images found")
    return FileSet(name, files, targets, len(class_names), sorted(set(targets)))


def class_index(name: str, root: str | Path, num_classes: int) -> FileSet:
    root = Path(root)
    _require(root, name)
    files, targets = [], []
    for folder in sorted(_subdirs(root), key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0)):
        if not folder.name.isdigit() or int(folder.name) >= num_classes:
            raise RawDataError(f"{root}: folder {folder.name!r} is not a class index 0..{num_classes - 1}")
        for f in _images(folder):
            files.append(str(f))
            targets.append(int(folder.name))
    if not files:
        raise RawDataError(f"{root}: no images found")
    return FileSet(name, files, targets, num_classes, sorted(set(targets)))


def real(name: str, root: str | Path, labels: str | Path, num_classes: int) -> FileSet:
    root, labels = Path(root), Path(labels)
    _require(root, name)
    if not labels.is_file():
        raise MissingRawFileError(
            f"ReaL labels {labels} not found (real.json of github.com/google-research/reassessed-imagenet)"
        )
    sets = json.loads(labels.read_text())
    if not isinstance(sets, list) or not all(isinstance(s, list) for s in sets):
        raise RawDataError(f"{labels}: expected a JSON list of label lists, one per validation image")
    files, targets = [], []
    for f in _images(root):
        match = _VAL_NUMBER.search(f.name)
        if not match:
            raise RawDataError(f"{f}: not an ImageNet validation file name (ILSVRC2012_val_<n>.JPEG)")
        n = int(match.group(1))
        if not 1 <= n <= len(sets):
            raise RawDataError(f"{f}: image number {n} outside the {len(sets)} entries of {labels}")
        label_set = [int(v) for v in sets[n - 1]]
        if any(not 0 <= v < num_classes for v in label_set):
            raise RawDataError(f"{labels}: entry {n - 1} has a class outside 0..{num_classes - 1}")
        if label_set:  # the ReaL protocol drops images without any valid label
            files.append(str(f))
            targets.append(label_set)
    if not files:
        raise RawDataError(f"{root}: no validation image with a ReaL label")
    return FileSet(name, files, targets, num_classes, multi_label=True)


def corruption_folders(name: str, root: str | Path, class_names: list[str]) -> dict[tuple[str, int], FileSet]:
    root = Path(root)
    _require(root, name)
    out = {}
    for corruption in _subdirs(root):
        for severity in _subdirs(corruption):
            if severity.name.isdigit():
                out[(corruption.name, int(severity.name))] = class_folders(name, severity, class_names)
    if not out:
        raise RawDataError(f"{root}: no <corruption>/<severity>/<class>/ folders")
    return out


class FileSetDataset(Dataset):
    """Images of a ``FileSet`` through ``transform``; targets a class index, or multi-hot (C,) for ReaL."""

    def __init__(self, file_set: FileSet, transform, mode: str = "RGB"):
        self.set, self.transform, self.mode = file_set, transform, mode

    def __len__(self) -> int:
        return len(self.set)

    def __getitem__(self, i: int):
        with Image.open(self.set.files[i]) as im:
            x = self.transform(im.convert(self.mode))
        t = self.set.targets[i]
        if self.set.multi_label:
            hot = torch.zeros(self.set.num_classes, dtype=torch.bool)
            hot[t] = True
            return x, hot
        return x, t


def eval_transform(image_size: int, crop_pct: float, mean, std):
    from timm.data import create_transform

    return create_transform(
        image_size, is_training=False, crop_pct=crop_pct, interpolation="bilinear", mean=tuple(mean), std=tuple(std)
    )


def file_set_loader(
    file_set: FileSet,
    image_size: int,
    crop_pct: float,
    mean,
    std,
    batch_size: int = 256,
    num_workers: int | None = None,
    channels: int = 3,
    device: str | torch.device = "cpu",
):
    from samlab.data.image_folder import DeviceLoader

    dataset = FileSetDataset(file_set, eval_transform(image_size, crop_pct, mean, std), "RGB" if channels == 3 else "L")
    workers = min(8, os.cpu_count() or 1) if num_workers is None else num_workers
    device = torch.device(device)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=device.type == "cuda"
    )
    return DeviceLoader(loader, device)


def build_file_sets(cfg: dict[str, dict[str, Any]], class_names: list[str]) -> dict[str, FileSet]:
    """Every configured set by name (ImageNet-C: ``<name>|<corruption>|<severity>``); ``optional: true`` sets
    whose folder is absent are skipped. ``class_folders`` with ``masked: both`` also yields ``<name>_<k>`` for
    the logits masked to the k classes the folder covers (ImageNet-R: 1000 logits officially, 200 commonly)."""
    out: dict[str, FileSet] = {}
    for name, spec in (cfg or {}).items():
        spec = dict(spec)
        fmt = spec.get("format")
        if fmt not in FORMATS:
            raise ValueError(f"evaluation set {name!r}: format must be one of {FORMATS}, got {fmt!r}")
        if spec.get("optional") and not Path(spec["root"]).exists():
            continue
        if fmt == "class_folders":
            out[name] = class_folders(name, spec["root"], class_names)
        elif fmt == "class_index":
            out[name] = class_index(name, spec["root"], len(class_names))
        elif fmt == "real":
            out[name] = real(name, spec["root"], spec["labels"], len(class_names))
        else:
            for (corruption, severity), fs in corruption_folders(name, spec["root"], class_names).items():
                out[f"{name}|{corruption}|{severity}"] = fs
    return out
