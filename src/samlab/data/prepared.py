"""The prepared data set: uint8 image (or float feature) splits plus what is needed to normalise and name them.

One concept, one file format: a flat ``dict[str, Tensor]`` (``{split}_images``/``{split}_labels``)
plus string metadata, so it saves as safetensors and loads without unpickling anything.

Three kinds share the class (``kind``):
- ``images``: uint8 (N, C, H, W), normalised per channel after scaling to [0, 1];
- ``features``: float32 (N, D) vectors (the toy set), normalised per dimension (identity by default).
  Seen by models as D channels of a 1×1 image (``image_shape == (D, 1, 1)``), so ``samlab_mlp`` and
  ``model_config_for`` size themselves from it without special cases;
- ``stream``: no tensors at all (``splits == {}``), only what a streaming loader needs (an image folder's
  root, sub-folders, image shape) in ``extra``; batches come from ``samlab.data.make_loader``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass
class PreparedData:
    """Splits of uint8 images (N, C, H, W) or float32 features (N, D) with int64 labels, and their normalisation.

    ``extra`` is JSON-able metadata: the geometry of two-feature sets (which rows/dims are the easy and
    hard part), provenance (source files, checksums), and for streamed sets where the images are.
    """

    name: str
    splits: dict[str, tuple[Tensor, Tensor]]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kinds = set()
        for split, (images, labels) in self.splits.items():
            if images.dtype == torch.uint8 and images.ndim == 4:
                kinds.add("images")
            elif images.dtype == torch.float32 and images.ndim == 2:
                kinds.add("features")
            else:
                raise ValueError(
                    f"split {split!r}: need uint8 images (N, C, H, W) or float32 features (N, D), "
                    f"got {images.dtype} {tuple(images.shape)}"
                )
            if labels.shape != (images.shape[0],):
                raise ValueError(f"split {split!r}: {images.shape[0]} images but labels of shape {tuple(labels.shape)}")
            if len(self.mean) != images.shape[1] or len(self.std) != images.shape[1]:
                raise ValueError(
                    f"split {split!r}: {images.shape[1]} channels but mean/std of length {len(self.mean)}/{len(self.std)}"
                )
        if len(kinds) > 1:
            raise ValueError("all splits must be images or all features, not a mix")
        if not self.splits and "image_shape" not in self.extra:
            raise ValueError("a prepared data set without tensor splits (streamed) needs extra['image_shape']")

    @property
    def kind(self) -> str:
        """``images``, ``features`` or ``stream`` (see the module docstring)."""
        if not self.splits:
            return "stream"
        images, _ = next(iter(self.splits.values()))
        return "features" if images.ndim == 2 else "images"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) as a model sees it; (D, 1, 1) for feature vectors. A tensor set with an input transform
        (``extra["input"]``, e.g. CIFAR shown at 224 px) reports the transform's size."""
        if self.extra.get("input") and self.splits:
            images, _ = next(iter(self.splits.values()))
            size = int(self.extra["input"]["size"])
            return (int(images.shape[1]), size, size)
        if not self.splits:
            return tuple(int(v) for v in self.extra["image_shape"])  # type: ignore[return-value]
        images, _ = next(iter(self.splits.values()))
        if images.ndim == 2:
            return (int(images.shape[1]), 1, 1)
        return tuple(images.shape[1:])  # type: ignore[return-value]

    @property
    def split_names(self) -> list[str]:
        """Every split, whatever the kind: tensor splits, or a streamed set's split folders."""
        if self.kind == "stream":
            return list(self.extra.get("split_dirs", {}))
        return list(self.splits)

    def has_split(self, split: str) -> bool:
        return split in self.split_names

    def split_size(self, split: str) -> int:
        """Number of samples of ``split`` (streamed sets: counted when the folders were prepared)."""
        if not self.has_split(split):
            raise KeyError(f"{self.name} has no split {split!r}; splits: {self.split_names}")
        if self.kind == "stream":
            return int(self.extra["counts"][split])
        return int(self.splits[split][1].shape[0])

    def normalise(self, images: Tensor) -> Tensor:
        """uint8 images → float, scaled to [0, 1] then standardised per channel; features: per dimension."""
        if images.ndim == 2:
            mean = torch.tensor(self.mean, device=images.device).view(1, -1)
            std = torch.tensor(self.std, device=images.device).view(1, -1)
            return (images.float() - mean) / std
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def to_tensors(self) -> tuple[dict[str, Tensor], dict[str, str]]:
        tensors: dict[str, Tensor] = {}
        seen: set[int] = set()

        def own(t: Tensor) -> Tensor:  # safetensors refuses tensors sharing memory (e.g. one label tensor, two splits)
            t = t.contiguous()
            if t.numel() and t.untyped_storage().data_ptr() in seen:
                t = t.clone()
            seen.add(t.untyped_storage().data_ptr())
            return t

        for split, (images, labels) in self.splits.items():
            tensors[f"{split}_images"] = own(images)
            tensors[f"{split}_labels"] = own(labels.to(torch.int64))
        meta = {
            "name": self.name,
            "splits": json.dumps(list(self.splits)),
            "mean": json.dumps(list(self.mean)),
            "std": json.dumps(list(self.std)),
            "class_names": json.dumps(self.class_names),
            "extra": json.dumps(self.extra),
        }
        return tensors, meta

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], meta: dict[str, str]) -> PreparedData:
        try:
            splits = {s: (tensors[f"{s}_images"], tensors[f"{s}_labels"]) for s in json.loads(meta["splits"])}
            return cls(
                name=meta["name"],
                splits=splits,
                mean=tuple(json.loads(meta["mean"])),
                std=tuple(json.loads(meta["std"])),
                class_names=list(json.loads(meta["class_names"])),
                extra=dict(json.loads(meta.get("extra", "{}"))),
            )
        except KeyError as exc:
            raise ValueError(f"not a samlab prepared data file: missing {exc}") from exc


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of uint8 images on the [0, 1] scale (computed on the train split only)."""
    # chunked float64 sums: CIFAR's 50k images would need ~600 MB as one float tensor
    s1 = torch.zeros(images.shape[1], dtype=torch.float64)
    s2 = torch.zeros_like(s1)
    for chunk in images.split(4096):
        x = chunk.to(torch.float64) / 255.0
        s1 += x.sum(dim=(0, 2, 3))
        s2 += x.square().sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s1 / n
    std = ((s2 - n * mean.square()).clamp_min(0) / max(n - 1, 1)).sqrt().clamp_min(1e-6)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
