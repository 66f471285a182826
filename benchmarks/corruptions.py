"""Corruption-suite throughput: samlab's batched torch suite vs ``imagecorruptions`` (per-image numpy/OpenCV).

    python benchmarks/corruptions.py [--n 2000] [--n-reference 200]

Both corrupt the same CIFAR-sized (32×32×3) natural-image crops (scikit-learn's two bundled photographs,
downscaled), every corruption at all five severities. Reported: images/s over the whole suite (one clean
image through every corruption × severity counts once) and the ratio, on the corruptions both can run.
imagecorruptions 1.1.2 under numpy 2 fails on ``glass_blur`` and ``fog`` (docs/install.md) and we skip
``frost`` (no photographs), so the common set is 12 corruptions; samlab's own 14-corruption figure is
printed too. imagecorruptions always uses the ImageNet-C constants (and its own, revised elastic transform);
samlab uses CIFAR-10-C's at this size. The reference throughput is measured on ``--n-reference`` images
(its per-image cost does not depend on the batch). Both run on one core by default (``--threads``): on a
shared machine torch's thread pool suffers most from contention. Install the extra: ``pip install -e .[bench]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types
import warnings

import numpy as np
import torch
import torch.nn.functional as F

import samlab  # noqa: F401  - the torchvision guard first
from samlab.evaluate.corruptions import SEVERITIES, available_corruptions, corruption_suite


def natural_crops(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = [torch.from_numpy(im).permute(2, 0, 1).float()[None] for im in load_sample_images().images]
    photos = [F.interpolate(p, scale_factor=0.25, mode="area")[0] for p in photos]  # ~107×160
    out = []
    for k in range(n):
        p = photos[k % len(photos)]
        i, j = rng.integers(0, p.shape[1] - size), rng.integers(0, p.shape[2] - size)
        out.append(p[:, i : i + size, j : j + size])
    return torch.stack(out).round().clamp(0, 255).to(torch.uint8)


def import_imagecorruptions():
    """imagecorruptions imports pkg_resources (gone from recent setuptools): give it the one function it uses."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")
            shim.resource_filename = lambda pkg, name: os.path.join(os.path.dirname(sys.modules[pkg].__file__), name)
            sys.modules["pkg_resources"] = shim
    import imagecorruptions

    return imagecorruptions


def time_ours(images: torch.Tensor, names: list[str], chunk_size: int) -> dict[str, float]:
    seconds = {}
    for name in names:
        t0 = time.perf_counter()
        corruption_suite(images, [name], SEVERITIES, seed=0, chunk_size=chunk_size)
        seconds[name] = time.perf_counter() - t0
    return seconds


def time_reference(ic, images: np.ndarray, names: list[str]) -> tuple[dict[str, float], dict[str, str]]:
    seconds, failed = {}, {}
    for name in names:
        try:
            t0 = time.perf_counter()
            for s in SEVERITIES:
                for img in images:
                    np.asarray(ic.corrupt(img, corruption_name=name, severity=s)).astype(np.uint8)
            seconds[name] = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - report which ones the package cannot run here
            failed[name] = f"{type(exc).__name__}: {str(exc)[:60]}"
    return seconds, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="images for samlab's batched suite")
    ap.add_argument("--n-reference", type=int, default=200, help="images for the per-image reference")
    ap.add_argument("--chunk-size", type=int, default=256, help="images per batched call")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: per-core, like the reference)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    ic = import_imagecorruptions()

    images = natural_crops(args.n)
    ref_images = images[: args.n_reference].permute(0, 2, 3, 1).numpy().copy()
    names = available_corruptions()
    print(
        f"{args.n} (samlab) / {args.n_reference} (imagecorruptions) images 32×32×3, severities 1-5, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads"
    )
    ours = time_ours(images, names, args.chunk_size)
    ref, failed = time_reference(ic, ref_images, names)
    common = [n for n in names if n in ref]
    print(f"\n{'corruption':18s} {'samlab img/s':>13s} {'imagecorr. img/s':>17s} {'ratio':>7s}")
    for name in names:
        a = args.n * len(SEVERITIES) / ours[name]
        if name in ref:
            b = args.n_reference * len(SEVERITIES) / ref[name]
            print(f"{name:18s} {a:13.0f} {b:17.0f} {a / b:6.1f}×")
        else:
            print(f"{name:18s} {a:13.0f} {'fails: ' + failed[name]:>17s}")
    suite_ours = args.n / sum(ours[n] for n in common)
    suite_ref = args.n_reference / sum(ref[n] for n in common)
    print(
        f"\nwhole suite on the {len(common)} common corruptions × 5 severities: samlab {suite_ours:.1f} images/s, "
        f"imagecorruptions {suite_ref:.1f} images/s, ratio {suite_ours / suite_ref:.1f}×"
    )
    print(f"samlab's full suite ({len(names)} corruptions × 5 severities): {args.n / sum(ours.values()):.1f} images/s")


if __name__ == "__main__":
    main()
