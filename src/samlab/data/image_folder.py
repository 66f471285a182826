"""Image folders (ImageNet layout: ``<root>/<split dir>/<class>/<image>``), streamed through timm's data tools.

Why streamed: ImageNet does not fit on a device as uint8 (1.28M × 3 × 224² ≈ 190 GB), so the prepared data
holds no tensors, only the folder geometry (``PreparedData.kind == "stream"``): root, split folders, class
names (sorted folder names, the ImageNet/torchvision convention), per-split image counts, image shape and
the paper-1 recipe transforms. ``stream_loader`` rebuilds timm ``ImageDataset``s with the recorded class map
and serves them through a ``DataLoader`` with workers; ``samlab.data.make_loader`` picks it for stream sets.

Transforms (docs/science.md §7): train RandomResizedCrop(size, scale 0.05–1) + horizontal flip only; eval resize
to size/crop_pct (256 for 224) and centre crop.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import torch
from timm.data import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    ImageDataset,
    create_transform,
)
from timm.data.readers.reader_image_folder import find_images_and_targets
from torch.utils.data import DataLoader, Subset

from samlab.data.prepared import PreparedData
from samlab.data.raw import MissingRawFileError, RawDataError

IMAGENET_SOURCE = "https://image-net.org (ILSVRC2012 train/val, val re-sorted into one folder per class)"


def _class_dirs(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def prepare_image_folder(
    root: str = "data/01_raw/imagenet",
    splits: dict[str, str] | None = None,
    image_size: int = 224,
    in_chans: int = 3,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    train_scale: tuple[float, float] = (0.05, 1.0),
    crop_pct: float = 0.875,
    name: str = "image_folder",
) -> PreparedData:
    """Check the folders, record their classes and counts; no pixels are read here."""
    splits = splits or {"train": "train", "test": "val"}
    if "train" not in splits:
        raise ValueError(f"splits must map 'train' to a sub-folder, got {splits}")
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3, got {in_chans}")
    root_path = Path(root)
    for split, sub in splits.items():
        if not (root_path / sub).is_dir():
            raise MissingRawFileError(
                f"image folder {root_path / sub} (split {split!r}) not found: place the images as "
                f"{root_path}/{sub}/<class>/<image>, e.g. ImageNet from {IMAGENET_SOURCE} (see the README section 'Data sets')"
            )
    classes = _class_dirs(root_path / splits["train"])
    if not classes:
        raise RawDataError(f"{root_path / splits['train']} has no class sub-folders")
    class_to_idx = {c: i for i, c in enumerate(classes)}
    counts = {}
    for split, sub in splits.items():
        unknown = set(_class_dirs(root_path / sub)) - set(classes)
        if unknown:
            raise RawDataError(f"{root_path / sub}: class folder(s) {sorted(unknown)[:5]} not in the train split")
        images, _ = find_images_and_targets(str(root_path / sub), class_to_idx=class_to_idx)
        if not images:
            raise RawDataError(f"{root_path / sub} holds no images (.png/.jpg/.jpeg)")
        counts[split] = len(images)
    default_mean, default_std = (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD) if in_chans == 3 else ((0.5,), (0.5,))
    extra = {
        "stream": "image_folder",
        "root": str(root_path),
        "split_dirs": dict(splits),
        "counts": counts,
        "image_shape": [in_chans, image_size, image_size],
        "train_scale": list(train_scale),
        "crop_pct": crop_pct,
    }
    return PreparedData(name, {}, tuple(mean or default_mean), tuple(std or default_std), classes, extra)


class DeviceLoader:
    """A ``DataLoader`` whose batches arrive on ``device`` (non-blocking from pinned memory on CUDA)."""

    def __init__(self, loader: DataLoader, device: torch.device):
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


class SeededSamples(torch.utils.data.Dataset):
    """Training samples whose random augmentation is a function of (epoch seed, image index) only.

    Why: under DDP each rank loads only its share of a global batch; seeding every sample's transform from its
    index makes the crops and flips the same whichever rank or worker loads it, so a run on W ranks sees the
    very images a single process would (and the order of workers does not matter)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        index, epoch_seed = item
        sample_seed = (epoch_seed * 1_000_003 + index) % (2**63)
        random.seed(sample_seed)  # timm's RandomResizedCrop draws from `random`
        torch.manual_seed(sample_seed)  # torchvision's flip draws from torch
        return self.dataset[index]


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Per update, this rank's share of a shuffled global batch of ``batch_size`` images (last partial batch
    dropped), in the loop's order: the update is cut into ``accum_steps`` micro-batches, each micro-batch into
    ``world_size`` contiguous slices. A single process gets the whole global batch. Shuffling and the epoch's
    augmentation seed come from ``generator`` (the same on every rank; checkpointed for resume)."""

    def __init__(
        self, n: int, batch_size: int, accum_steps: int, world_size: int, rank: int, generator: torch.Generator
    ):
        if batch_size % (accum_steps * world_size):
            raise ValueError(
                f"batch of {batch_size} images does not split into {accum_steps} micro-batches × {world_size} ranks"
            )
        self.n, self.batch_size, self.accum, self.world, self.rank = n, batch_size, accum_steps, world_size, rank
        self.generator = generator

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator)
        epoch_seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        micro = self.batch_size // self.accum
        share = micro // self.world
        for b in range(len(self)):
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            mine = torch.cat(
                [batch[k * micro + self.rank * share : k * micro + (self.rank + 1) * share] for k in range(self.accum)]
            )
            yield [(int(i), epoch_seed) for i in mine]


def stream_loader(
    data: PreparedData,
    split: str,
    batch_size: int,
    train: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    num_workers: int | None = None,
    indices: torch.Tensor | None = None,
    accum_steps: int = 1,
) -> DeviceLoader:
    """Batches of a streamed split: timm dataset + recipe transforms + ``DataLoader`` with workers.

    Training under ``torchrun`` loads only this rank's share of every global batch (``per_rank`` is then set on
    the returned loader; the loop does not slice it again): each image is decoded once, by one rank.
    """
    extra = data.extra
    if extra.get("stream") != "image_folder":
        raise ValueError(f"{data.name} is not a streamed image folder")
    if split not in extra["split_dirs"]:
        raise KeyError(f"split {split!r} not in {sorted(extra['split_dirs'])}")
    c, size, _ = data.image_shape
    transform = create_transform(
        size,
        is_training=train,
        scale=tuple(extra["train_scale"]),
        hflip=0.5,
        color_jitter=None,
        crop_pct=extra["crop_pct"],
        mean=data.mean,
        std=data.std,
        **({} if train else {"interpolation": "bilinear"}),
    )
    dataset = ImageDataset(
        os.path.join(extra["root"], extra["split_dirs"][split]),
        class_map={n: i for i, n in enumerate(data.class_names)},
        input_img_mode="RGB" if c == 3 else "L",
        transform=transform,
    )
    if indices is not None:
        dataset = Subset(dataset, [int(i) for i in indices])
    device = torch.device(device)
    workers = min(8, os.cpu_count() or 1) if num_workers is None else num_workers
    generator = torch.Generator().manual_seed(seed)
    common = {
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": workers > 0,
        "generator": generator,
    }
    if not train:
        return DeviceLoader(DataLoader(dataset, batch_size=batch_size, shuffle=False, **common), device)
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    world, rank = (torch.distributed.get_world_size(), torch.distributed.get_rank()) if distributed else (1, 0)
    sampler = GlobalBatchSampler(len(dataset), batch_size, accum_steps, world, rank, generator)
    loader = DeviceLoader(DataLoader(SeededSamples(dataset), batch_sampler=sampler, **common), device)
    loader.per_rank = world > 1
    return loader
