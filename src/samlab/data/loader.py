"""A device-resident loader: the whole split lives on the device as uint8, batches are index gathers.

Why: for digits/toy/CIFAR-sized sets a per-sample ``DataLoader`` spends more time in Python than the
model spends computing. Here a batch is one gather, one normalisation and (optionally) one batched
augmentation call, all on the training device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

Transform = Callable[[Tensor, torch.Generator], Tensor]


class TensorLoader:
    """Iterate over ``(inputs, labels)`` batches of a uint8 image tensor held on ``device``."""

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        normalise: Callable[[Tensor], Tensor],
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        augment: Transform | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        if drop_last and images.shape[0] < batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the {images.shape[0]} samples of the split")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.normalise = normalise
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = augment
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = self.images.shape[0]
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.images.index_select(0, idx)
            if self.augment is not None:
                x = self.augment(x, self.generator)
            yield self.normalise(x), self.labels.index_select(0, idx)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def make_loader(
    data,
    split: str,
    batch_size: int,
    *,
    train: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    augment: dict | None = None,
    num_workers: int | None = None,
    indices: Tensor | None = None,
    accum_steps: int = 1,
):
    """The one way to get batches of ``split`` of any prepared data set (tensor or streamed).

    Tensor sets (images, features): a ``TensorLoader`` on ``device`` (train: shuffled, last partial batch
    dropped, ``augment`` config → batched on-device crop/flip). A tensor set with an input transform
    (``extra["input"]``: CIFAR shown to a 224 px model) is resized on the device: RandomResizedCrop + flip
    when training, resize + centre crop otherwise. Streamed image folders: a worker ``DataLoader`` with
    the recipe transforms (``augment`` is then ignored), batches moved to ``device``; under ``torchrun`` a
    training loader yields only this rank's share of each global batch (``loader.per_rank``; ``accum_steps``
    tells how the global batch is cut into micro-batches). ``indices`` restricts
    the split to those samples (in that order; eval only).
    """
    if not data.has_split(split):
        raise KeyError(f"{data.name} has no split {split!r}; splits: {data.split_names}")
    if indices is not None and train:
        raise ValueError("indices select a fixed subset for evaluation; training loaders read the whole split")
    if data.kind == "stream":
        from samlab.data.image_folder import stream_loader

        return stream_loader(
            data,
            split,
            batch_size,
            train=train,
            seed=seed,
            device=device,
            num_workers=num_workers,
            indices=indices,
            accum_steps=accum_steps,
        )
    from samlab.data.augment import create_augment, input_transforms

    train_input, eval_input = input_transforms(data.extra.get("input"))
    if train_input is not None and augment:
        raise ValueError(
            f"{data.name} is resized for the model (extra['input']) with its own train augmentation; "
            f"drop training.augment ({augment})"
        )
    transform = (train_input or create_augment(augment)) if train else eval_input
    if train and transform is not None and data.kind != "images":
        raise ValueError(f"augmentation {augment} needs images; {data.name} holds feature vectors")
    images, labels = data.splits[split]
    if indices is not None:
        images, labels = images[indices], labels[indices]
    return TensorLoader(
        images,
        labels,
        batch_size,
        data.normalise,
        shuffle=train,
        drop_last=train,
        seed=seed,
        device=device,
        augment=transform,
    )


def subset_indices(n: int, size: int | None, seed: int = 0, order: str = "random") -> Tensor:
    """``size`` of ``n`` sample indices: the first ones (``order: first``, paper 1's sharpness subset) or a
    fixed random choice, sorted (``random``); all of them when size is None or >= n."""
    if size is None or size >= n:
        return torch.arange(n)
    if size < 1:
        raise ValueError(f"subset size must be >= 1, got {size}")
    if order == "first":
        return torch.arange(size)
    if order != "random":
        raise ValueError(f"subset order must be 'first' or 'random', got {order!r}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values


def load_subset(
    data,
    split: str = "train",
    size: int | None = None,
    seed: int = 0,
    order: str = "random",
    batch_size: int = 256,
    num_workers: int | None = None,
) -> tuple[Tensor, Tensor]:
    """A fixed subset of ``split`` as one normalised float tensor (CPU) and its labels, read through the eval
    transform whatever the data's kind: what sharpness and feature-balance measurements run on."""
    idx = subset_indices(data.split_size(split), size, seed, order)
    xs, ys = [], []
    for x, y in make_loader(data, split, batch_size, indices=idx, num_workers=num_workers):
        xs.append(x.float().cpu())
        ys.append(y.cpu())
    return torch.cat(xs), torch.cat(ys)
