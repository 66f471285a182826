"""Dominoes: images of two stacked parts, an easy one on top and a hard one below (Shah et al. 2020).

- ``dominoes`` (embedded, no download): a scikit-learn digit (hard) under a flat class colour with pixel
  noise (easy).
- ``cifar_mnist`` (real files): a CIFAR-10 image (hard, two classes) under an MNIST digit padded to 32×32
  (easy, two classes), the set of paper 2.

In ``train``/``val``/``test`` both parts show the label. In ``hard_only_*`` only the hard part does and the
easy part shows an independent random class; in ``easy_only_*`` the reverse. Every hard image of a split is
used exactly once per variant; easy parts are drawn for the class they must show. The rows of each part are
recorded in ``PreparedData.extra["parts"]`` (``{"easy": {"rows": [0, S]}, "hard": {"rows": [S, 2S]}}``).
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from samlab.data.cifar import read_cifar, split_train
from samlab.data.digits import digits_images, stratified_split
from samlab.data.mnist import read_mnist
from samlab.data.prepared import PreparedData, channel_stats
from samlab.data.toy import TWO_FEATURE_SPLITS

EasyParts = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # class per sample → uint8 (N, C, S, S)


def stack_dominoes(
    hard: tuple[torch.Tensor, torch.Tensor], easy_parts: EasyParts, mode: str, num_classes: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each hard image once, under an easy part of the label (``aligned``), of a random class
    (``hard_only``, label = hard class) or with the label carried by the easy part (``easy_only``)."""
    images, classes = hard
    other = torch.randint(0, num_classes, classes.shape, generator=gen)
    if mode == "aligned":
        easy_cls, label = classes, classes
    elif mode == "hard_only":
        easy_cls, label = other, classes
    elif mode == "easy_only":
        easy_cls, label = other, other
    else:
        raise ValueError(f"unknown mode {mode!r}")
    easy = easy_parts(easy_cls, gen)
    if easy.shape[1:] != images.shape[1:]:
        raise ValueError(f"easy parts {tuple(easy.shape[1:])} and hard parts {tuple(images.shape[1:])} differ in shape")
    return torch.cat([easy, images], dim=2).contiguous(), label.long()


def dominoes_from_pools(
    name: str,
    pools: dict[str, tuple[torch.Tensor, torch.Tensor]],
    easy_for: dict[str, EasyParts],
    class_names: list[str],
    seed: int,
    extra: dict,
) -> PreparedData:
    """All seven splits from hard-image pools ``train``/``val``/``test`` and easy-part makers for each pool."""
    gen = torch.Generator().manual_seed(seed)
    splits = {}
    for split in TWO_FEATURE_SPLITS:
        if split in ("train", "val", "test"):
            pool, mode = split, "aligned"
        else:
            mode, pool = split.rsplit("_", 1)
        splits[split] = stack_dominoes(pools[pool], easy_for[pool], mode, len(class_names), gen)
    size = pools["train"][0].shape[2]
    mean, std = channel_stats(splits["train"][0])
    extra = {"parts": {"easy": {"rows": [0, size]}, "hard": {"rows": [size, 2 * size]}}, **extra}
    return PreparedData(name, splits, mean, std, class_names, extra)


def class_colours(num_classes: int, in_chans: int) -> torch.Tensor:
    """One flat colour per class: evenly spaced hues (RGB) or grey levels; uint8 (K, C)."""
    if in_chans == 3:
        rgb = [colorsys.hsv_to_rgb(k / num_classes, 1.0, 1.0) for k in range(num_classes)]
        return (torch.tensor(rgb) * 255).round().to(torch.uint8)
    return ((torch.arange(num_classes).float() + 0.5) / num_classes * 255).round().to(torch.uint8).view(-1, 1)


def colour_parts(colours: torch.Tensor, size: int, noise: float) -> EasyParts:
    def make(cls: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        base = colours[cls].float().view(len(cls), -1, 1, 1).expand(-1, -1, size, size)
        noisy = base + noise * torch.randn(base.shape, generator=gen)
        return noisy.round().clamp(0, 255).to(torch.uint8)

    return make


def pool_parts(images: torch.Tensor, classes: torch.Tensor, num_classes: int) -> EasyParts:
    """Easy parts drawn (with replacement) from real images of the class to show."""
    by_class = [torch.nonzero(classes == k).flatten() for k in range(num_classes)]
    if any(len(i) == 0 for i in by_class):
        raise ValueError("every class needs at least one easy-part image")

    def make(cls: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        idx = torch.empty_like(cls)
        for k, members in enumerate(by_class):  # one vectorised draw per class, not per sample
            where = cls == k
            idx[where] = members[torch.randint(0, len(members), (int(where.sum()),), generator=gen)]
        return images[idx]

    return make


def _select(images: torch.Tensor, labels: torch.Tensor, keep: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples whose label is in ``keep``, relabelled 0..len(keep)-1 in that order."""
    keep_t = torch.tensor(list(keep))
    mask = (labels.unsqueeze(1) == keep_t).any(1)
    new = (labels[mask].unsqueeze(1) == keep_t).float().argmax(1)
    return images[mask], new


def prepare_dominoes(
    image_size: int = 16,
    in_chans: int = 3,
    classes: Sequence[int] | None = None,
    split: dict[str, float] | None = None,
    easy_noise: float = 24.0,
    seed: int = 0,
) -> PreparedData:
    """Digit dominoes: (C, 2·S, S) images, a flat class colour on top, the digit below."""
    classes = list(range(10)) if classes is None else [int(c) for c in classes]
    if len(classes) < 2 or len(set(classes)) != len(classes) or not set(classes) <= set(range(10)):
        raise ValueError(f"classes must be >= 2 distinct digits 0..9, got {classes}")
    split = split or {"train": 0.6, "val": 0.1, "test": 0.3}
    if set(split) != {"train", "val", "test"}:
        raise ValueError(f"split needs exactly train/val/test fractions, got {split}")
    images, labels = _select(*digits_images(image_size, in_chans), classes)
    idx = stratified_split(labels.numpy(), split, seed)
    pools = {k: (images[torch.from_numpy(i)], labels[torch.from_numpy(i)]) for k, i in idx.items()}
    easy = colour_parts(class_colours(len(classes), in_chans), image_size, easy_noise)
    return dominoes_from_pools(
        "dominoes",
        pools,
        {k: easy for k in pools},
        [str(c) for c in classes],
        seed,
        {"easy": "class colour", "hard": "digit", "digits": classes},
    )


def prepare_cifar_mnist(
    raw_dir: str = "data/01_raw",
    cifar_classes: Sequence[int] = (1, 9),
    mnist_classes: Sequence[int] = (0, 1),
    val_fraction: float = 0.1,
    seed: int = 0,
    md5: str | None = "published",
    verify_checksum: bool = True,
) -> PreparedData:
    """CIFAR-MNIST (3, 64, 32): MNIST (easy, padded to 32×32, grey→RGB) on top of CIFAR-10 (hard)."""
    if len(cifar_classes) != len(mnist_classes) or len(cifar_classes) < 2:
        raise ValueError(f"need as many (>= 2) CIFAR as MNIST classes, got {cifar_classes} and {mnist_classes}")
    cifar = read_cifar("cifar10", raw_dir, md5, verify_checksum=verify_checksum)
    mnist = read_mnist(raw_dir, verify_checksum)
    k = len(cifar_classes)
    pools = split_train(*_select(*cifar.train, cifar_classes), val_fraction, seed)
    pools["test"] = _select(*cifar.test, cifar_classes)

    def padded(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (2, 2, 2, 2)).expand(-1, 3, -1, -1).contiguous()

    m_train = _select(*mnist["train"], mnist_classes)
    m_test = _select(*mnist["test"], mnist_classes)
    easy_train = pool_parts(padded(m_train[0]), m_train[1], k)
    easy_test = pool_parts(padded(m_test[0]), m_test[1], k)
    names = [f"{cifar.class_names[c]}|{m}" for c, m in zip(cifar_classes, mnist_classes)]
    return dominoes_from_pools(
        "cifar_mnist",
        pools,
        {"train": easy_train, "val": easy_train, "test": easy_test},
        names,
        seed,
        {
            "easy": "mnist",
            "hard": "cifar10",
            "cifar_classes": list(cifar_classes),
            "mnist_classes": list(mnist_classes),
        },
    )
