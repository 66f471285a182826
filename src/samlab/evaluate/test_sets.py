"""Every labelled set the robustness stage evaluates, gathered into one ``PreparedData``.

Split names are ``test_set|corruption|severity`` (see ``samlab.evaluate.robustness.set_key``):
- ``test|none|0`` the clean test split (optionally a fixed random subsample of it);
- ``test|<corruption>|<1-5>`` the corruption suite, generated (``corruptions.py``) or, when the real
  CIFAR-10-C / CIFAR-100-C ``<corruption>.npy`` files are in the configured folder, read from them;
- ``<split>|none|0`` for every prepared split named ``*_only_test`` (the shifted dominoes / CIFAR-MNIST sets);
- file sets (``extra["file_sets"]``, streamed at evaluation, never loaded whole): the ``eval_sets`` of the
  parameters (ImageNet val of a streamed set, ReaL, V2, R, Sketch, ImageNet-C; ``samlab.data.eval_sets``) and the
  ``image_folders`` (class folders, logits masked to the classes they cover).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from samlab.data.prepared import PreparedData
from samlab.evaluate.corruptions import (
    SEVERITIES,
    available_corruptions,
    chunk_size_for,
    corrupt,
)
from samlab.evaluate.robustness import set_key

log = logging.getLogger(__name__)
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def subsample_index(n: int, max_images: int | None, seed: int) -> Tensor | None:
    """A fixed random subset (sorted) of ``max_images`` of n, or None for all."""
    if max_images is None or max_images >= n:
        return None
    if max_images < 1:
        raise ValueError(f"max_test_images must be >= 1 or null, got {max_images}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_images].sort().values


def read_corruption_npy(
    folder: str | Path, name: str, n_per_severity: int | None = None
) -> dict[int, tuple[Tensor, Tensor]] | None:
    """One CIFAR-10-C/100-C file: ``<name>.npy`` (5·n, H, W, 3) uint8 + ``labels.npy``; None if absent."""
    folder = Path(folder)
    path, labels_path = folder / f"{name}.npy", folder / "labels.npy"
    if not path.exists() or not labels_path.exists():
        return None
    images = np.load(path, allow_pickle=False)
    labels = np.load(labels_path, allow_pickle=False)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[0] % len(SEVERITIES):
        raise ValueError(f"{path}: expected uint8 (5·N, H, W, C), got {images.dtype} {images.shape}")
    n = images.shape[0] // len(SEVERITIES)
    if labels.shape[0] not in (n, images.shape[0]):
        raise ValueError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images")
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels.astype(np.int64))
    out = {}
    for s in SEVERITIES:
        sl = slice((s - 1) * n, s * n)
        out[s] = (x[sl], y[sl] if y.shape[0] == x.shape[0] else y)
    return out


def read_image_folder(
    root: str | Path, class_names: list[str], image_size: int, channels: int
) -> tuple[Tensor, Tensor, list[int]]:
    """A class-per-folder test set: resize the shorter side to ``image_size``, centre-crop, uint8 NCHW.

    Folder names must be among ``class_names`` (e.g. WordNet ids); returns images, labels in the full class
    space, and the sorted class ids the folder covers.
    """
    from PIL import Image

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder test set {root} does not exist")
    index = {name: i for i, name in enumerate(class_names)}
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    unknown = [p.name for p in folders if p.name not in index]
    if unknown:
        raise ValueError(f"{root}: class folders not among the model's classes: {unknown[:5]}")
    images, labels = [], []
    for folder in folders:
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            with Image.open(file) as im:
                im = im.convert("RGB" if channels == 3 else "L")
                w, h = im.size
                scale = image_size / min(w, h)
                im = im.resize((max(image_size, round(w * scale)), max(image_size, round(h * scale))), Image.BILINEAR)
                w, h = im.size
                left, top = (w - image_size) // 2, (h - image_size) // 2
                im = im.crop((left, top, left + image_size, top + image_size))
                arr = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy())
            images.append(arr.view(image_size, image_size, -1).permute(2, 0, 1))
            labels.append(index[folder.name])
    if not images:
        raise ValueError(f"{root}: no images found")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), sorted(set(labels))


def build_robustness_sets(
    prepared: PreparedData,
    corruptions: list[str] | str = "all",
    severities: list[int] | tuple[int, ...] = SEVERITIES,
    seed: int = 0,
    max_test_images: int | None = None,
    test_split: str = "test",
    parameter_set: str = "auto",
    corrupted_npy: str | None = None,
    image_folders: dict[str, str] | None = None,
    chunk_size: int = 256,
    progress: bool = False,
    threads: int | None = None,
    eval_sets: dict[str, dict] | None = None,
) -> PreparedData:
    """The clean, corrupted and shifted test sets of ``prepared`` (see the module docstring).

    ``eval_sets`` and ``image_folders`` (class folders, logits masked to the classes they cover) are file
    sets: listed in ``extra["file_sets"]`` and streamed at evaluation, never loaded whole.
    """
    kind = getattr(prepared, "kind", "images")
    names = available_corruptions() if corruptions == "all" else list(corruptions)
    file_sets = file_set_specs(prepared, eval_sets or {})
    if kind == "stream":
        folders = {
            name: {"format": "class_folders", "root": path, "masked": True}
            for name, path in (image_folders or {}).items()
        }
        file_sets.update(file_set_specs(prepared, folders))
        if prepared.has_split(test_split):  # the clean test split (ImageNet val), streamed like the rest
            root = Path(prepared.extra["root"]) / prepared.extra["split_dirs"][test_split]
            file_sets = {
                **file_set_specs(prepared, {"test": {"format": "class_folders", "root": str(root)}}),
                **file_sets,
            }
        return PreparedData(
            f"{prepared.name}-robustness",
            {},
            prepared.mean,
            prepared.std,
            list(prepared.class_names),
            {
                "class_subsets": "{}",
                "corruption_sources": "{}",
                "file_sets": file_sets,
                "image_shape": list(prepared.image_shape),
            },
        )
    if kind == "features" and names:
        log.info(
            "%s holds feature vectors, not images: no corruption suite, only clean and shifted sets", prepared.name
        )
        names = []
    if test_split not in prepared.splits:
        raise ValueError(f"no {test_split!r} split in the prepared data; splits: {sorted(prepared.splits)}")
    severities = [int(s) for s in severities]
    images, labels = prepared.splits[test_split]
    idx = subsample_index(images.shape[0], max_test_images, seed)
    if idx is not None:
        images, labels = images[idx], labels[idx]
    splits = {set_key("test"): (images.clone(), labels.clone())}
    sources = {}
    for name in tqdm(names, desc="corruptions", disable=not progress):
        real = read_corruption_npy(corrupted_npy, name) if corrupted_npy else None
        if real is not None and real[1][0].shape[1:] != images.shape[1:]:
            log.warning(
                "%s/%s.npy holds %s images, the test split %s: generating instead",
                corrupted_npy,
                name,
                tuple(real[1][0].shape[1:]),
                tuple(images.shape[1:]),
            )
            real = None
        sources[name] = "npy" if real is not None else "generated"
        for s in severities:
            if real is not None:
                x, y = real[s]
                sub = subsample_index(x.shape[0], max_test_images, seed)
                splits[set_key("test", name, s)] = (x.clone(), y.clone()) if sub is None else (x[sub], y[sub])
            else:
                chunks = [
                    corrupt(c, name, s, seed + k, parameter_set, threads)
                    for k, c in enumerate(images.split(chunk_size_for(name, chunk_size)))
                ]
                splits[set_key("test", name, s)] = (
                    torch.cat(chunks),
                    labels.clone(),
                )  # safetensors refuses shared storage
    for split, (x, y) in prepared.splits.items():
        if split.endswith("_only_test"):
            sub = subsample_index(x.shape[0], max_test_images, seed)
            splits[set_key(split)] = (x.clone(), y.clone()) if sub is None else (x[sub], y[sub])
    if image_folders and kind != "images":
        raise ValueError(f"image-folder test sets need an image data set, {prepared.name} holds {kind}")
    folders = {
        name: {"format": "class_folders", "root": path, "masked": True, "crop_pct": 1.0}
        for name, path in (image_folders or {}).items()
    }  # shorter side to the image size, centre crop
    file_sets.update(file_set_specs(prepared, folders))
    log.info("robustness sets: %d (%s)", len(splits), ", ".join(f"{k}: {v}" for k, v in sources.items()))
    return PreparedData(
        name=f"{prepared.name}-robustness",
        splits=splits,
        mean=prepared.mean,
        std=prepared.std,
        class_names=list(prepared.class_names),
        extra={
            "class_subsets": "{}",
            "corruption_sources": json.dumps(sources),
            "seed": str(seed),
            "file_sets": file_sets,
        },
    )


def file_set_specs(prepared: PreparedData, eval_sets: dict[str, dict]) -> dict[str, dict]:
    """``{set key: {files, targets, multi_label, mask, image_size, crop_pct}}`` for every configured file set
    (file lists only: the pixels are read batch by batch at evaluation). ``masked: true`` restricts the logits
    to the classes the folder covers; ``masked: both`` reports the set twice, ``<name>`` on all logits (the
    official ImageNet-R number) and ``<name>_<k>`` masked to its k classes (the common protocol)."""
    from samlab.data.eval_sets import build_file_sets

    c, size, _ = prepared.image_shape
    default_crop = float(prepared.extra.get("crop_pct", 0.875 if prepared.kind == "stream" else 1.0))
    out = {}
    for key, fs in build_file_sets(eval_sets, list(prepared.class_names)).items():
        name = key.split("|")[0]
        spec = eval_sets[name]
        base = {
            "files": fs.files,
            "targets": fs.targets,
            "multi_label": fs.multi_label,
            "num_classes": fs.num_classes,
            "image_size": int(size),
            "channels": int(c),
            "crop_pct": float(spec.get("crop_pct", default_crop)),
        }
        full_key = key if "|" in key else set_key(key)
        masked = spec.get("masked", False)
        if masked in (False, "both", None):
            out[full_key] = {**base, "mask": None}
        if masked in (True, "both"):
            masked_key = (
                full_key if masked is True else set_key(f"{name}_{len(fs.covered_classes)}", *full_key.split("|")[1:])
            )
            out[masked_key] = {**base, "mask": fs.covered_classes}
    return out


def resize_images(images: Tensor, size: int) -> Tensor:
    """uint8 bilinear resize (used when a target set must match a source model's input size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8)
