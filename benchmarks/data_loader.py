"""Batches per second: the device-resident loader vs a torchvision-style per-sample DataLoader.

Same CIFAR-sized uint8 tensors (N × 3 × 32 × 32), same batch size, same augmentation (random crop with
4-pixel zero padding + horizontal flip) and the same normalisation, measured side by side in one run:

    python benchmarks/data_loader.py [--n 50000] [--batch-size 128] [--batches 200] [--workers 0] [--device cpu] [--threads N]

``samlab.data.TensorLoader`` + ``CropFlip``: one gather per batch for the crop/flip, on the device.
Per-sample: a ``Dataset`` whose ``__getitem__`` applies torchvision.transforms.v2 RandomCrop/RandomHorizontalFlip/
ToDtype/Normalize to one image, collated by ``torch.utils.data.DataLoader`` (``--workers`` processes).
"""

from __future__ import annotations

import argparse
import itertools
import time

import samlab  # noqa: F401  - the torchvision guard first
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from samlab.data import CropFlip, PreparedData, TensorLoader, channel_stats


class PerSample(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std):
        self.images, self.labels = images, labels
        self.transform = v2.Compose(
            [
                v2.RandomCrop(32, padding=4),
                v2.RandomHorizontalFlip(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean, std),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def batches_per_second(loader, batches: int, device: torch.device) -> float:
    it = iter(itertools.cycle(loader)) if batches > len(loader) else iter(loader)
    x, y = next(it)  # warm-up (workers start, first allocation)
    start = time.perf_counter()
    for _ in range(batches):
        x, y = next(it)
        x, y = x.to(device), y.to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batches / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads for both loaders (default: torch's; use 1 on a shared, busy CPU "
        "where OpenMP threads spin against other processes)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.n, 3, 32, 32), dtype=torch.uint8)
    labels = torch.randint(0, 10, (args.n,))
    mean, std = channel_stats(images[:5000])
    data = PreparedData("bench", {"train": (images, labels)}, mean, std, [str(i) for i in range(10)])

    resident = TensorLoader(
        images,
        labels,
        args.batch_size,
        data.normalise,
        shuffle=True,
        drop_last=True,
        device=device,
        augment=CropFlip(4, 0.5),
    )
    per_sample = DataLoader(
        PerSample(images, labels, list(mean), list(std)),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        pin_memory=device.type == "cuda",
    )
    fast = batches_per_second(resident, args.batches, device)
    slow = batches_per_second(per_sample, max(args.batches // 4, 10), device)
    print(
        f"CIFAR-sized {args.n}×3×32×32 uint8, batch {args.batch_size}, crop(pad 4)+flip+normalise, "
        f"device {device}, torch threads {torch.get_num_threads()}"
    )
    print(f"device-resident TensorLoader : {fast:10.1f} batches/s")
    print(f"per-sample DataLoader ({args.workers} workers): {slow:10.1f} batches/s")
    print(f"ratio: {fast / slow:.1f}x")


if __name__ == "__main__":
    main()
