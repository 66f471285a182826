"""The samlab step on a GPU: precisions, layouts, torch.compile, host synchronisations, peak memory, and a
CIFAR-size ResNet-18 SAM epoch fed by the device-resident loader.

Run by ``benchmarks/gpu_check.sh`` (``--device cuda``). Everything also runs on the CPU (``--device cpu
--quick``, used by the tests so the script cannot rot): there, host synchronisations and peak memory read
"n/a" and torch.compile is skipped unless ``--compile``.

Tables:
1. steps: fp32 / bf16 / fp16 (GradScaler) / channels_last bf16 / torch.compile bf16 for sgd, sam, asam,
   gsam, obf on resnet18 at 32 px: median step ms, step ÷ SGD step of the same setting, peak memory over
   the SGD step in parameter sizes, host synchronisations per step (``torch.cuda.set_sync_debug_mode``);
2. a ResNet-18 SAM epoch on 50 000 random uint8 CIFAR-size images held on the device (``TensorLoader``
   with on-device crop/flip): epoch seconds, images/s and the share of time spent producing batches.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import samlab  # noqa: F401, I001 - torchvision guard: before timm (docs/install.md)
import timm
import torch
from torch import nn

from samlab.data.augment import create_augment
from samlab.data.loader import TensorLoader
from samlab.optim import create_optimizer

ce = nn.functional.cross_entropy
VARIANTS = {"sgd": {}, "sam": {"rho": 0.05}, "asam": {"rho": 0.5}, "gsam": {"rho": 0.05}, "obf": {"rho": 0.05}}


def settings(device: torch.device, compile_: bool) -> dict[str, dict]:
    out = {
        "fp32": {"autocast": None, "fp16": False, "channels_last": False, "compile": False},
        "bf16": {"autocast": torch.bfloat16, "fp16": False, "channels_last": False, "compile": False},
        "fp16 + GradScaler": {"autocast": torch.float16, "fp16": True, "channels_last": False, "compile": False},
        "bf16 channels_last": {"autocast": torch.bfloat16, "fp16": False, "channels_last": True, "compile": False},
    }
    if compile_:
        out["bf16 torch.compile"] = {"autocast": torch.bfloat16, "fp16": False, "channels_last": False, "compile": True}
    if device.type == "cpu":  # fp16 autocast/GradScaler on the CPU only checks that the code path runs
        out["fp16 + GradScaler"]["autocast"] = torch.bfloat16
    return out


class SyncCounter:
    """Host synchronisations of CUDA operations (``set_sync_debug_mode('warn')`` warns on each one)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.count: int | None = None

    def __enter__(self):
        if self.cuda:
            self._catch = warnings.catch_warnings(record=True)
            self._log = self._catch.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.set_sync_debug_mode("default")
            self._catch.__exit__(*exc)
            self.count = sum("synchroniz" in str(w.message) for w in self._log)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_step(
    name: str, setting: dict, device: torch.device, batch: int
) -> tuple[Callable[[], None], nn.Module, object]:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=10).to(device)
    if setting["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type) if setting["fp16"] else None
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, grad_scaler=scaler, **VARIANTS[name])
    net = torch.compile(model) if setting["compile"] else model
    x = torch.randn(batch, 3, 32, 32, device=device)
    if setting["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        opt.forward_backward(net, x, y, ce, autocast=setting["autocast"])
        opt.step()

    return step, model, opt


def steps_table(device: torch.device, batch: int, rounds: int, compile_: bool) -> None:
    print(f"\n## 1. resnet18 at 32 px, batch {batch}: step ms (median), ÷ SGD, peak memory, host syncs per step")
    print("| setting | variant | step ms | ÷ sgd | peak memory over sgd (parameter sizes) | host syncs per step |")
    print("|---|---|---:|---:|---:|---:|")
    for label, setting in settings(device, compile_).items():
        fns, params_bytes, peaks, syncs = {}, 0, {}, {}
        for name in VARIANTS:
            step, model, _ = make_step(name, setting, device, batch)
            params_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
            for _ in range(3):  # warm-up (and compilation)
                step()
            sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            with SyncCounter(device) as counter:
                step()
                sync(device) if device.type != "cuda" else None
            syncs[name] = counter.count
            if device.type == "cuda":
                peaks[name] = torch.cuda.max_memory_allocated() - base
            fns[name] = step
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(rounds):
            for k, fn in fns.items():
                sync(device)
                t0 = time.perf_counter()
                fn()
                sync(device)
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in VARIANTS:
            mem = f"{(peaks[name] - peaks['sgd']) / params_bytes:.2f}" if peaks else "n/a"
            s = "n/a" if syncs[name] is None else str(syncs[name])
            print(f"| {label} | {name} | {med[name] * 1e3:.2f} | {med[name] / med['sgd']:.3f} | {mem} | {s} |")
        del fns
        if device.type == "cuda":
            torch.cuda.empty_cache()


def cifar_epoch(device: torch.device, n_images: int, batch: int, m: int) -> None:
    print(f"\n## 2. ResNet-18 SAM epoch (m = {m}), {n_images} CIFAR-size uint8 images on {device}, batch {batch}")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n_images,), generator=g)
    mean = torch.tensor([0.4914, 0.4822, 0.4465], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.2470, 0.2435, 0.2616], device=device).view(1, 3, 1, 1) * 255
    loader = TensorLoader(
        images,
        labels,
        batch,
        lambda x: (x.float() - mean) / std,
        shuffle=True,
        drop_last=True,
        device=device,
        augment=create_augment({"crop_padding": 4, "hflip": 0.5}),
    )
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=10).to(device)
    opt = create_optimizer("sam", model, lr=0.1, momentum=0.9, rho=0.05, perturbation_batch_size=m)
    autocast = torch.bfloat16 if device.type == "cuda" else None
    data_s, t0 = 0.0, time.perf_counter()
    it = iter(loader)
    while True:
        sync(device)
        t_data = time.perf_counter()
        try:
            x, y = next(it)
        except StopIteration:
            break
        sync(device)
        data_s += time.perf_counter() - t_data
        opt.forward_backward(model, x, y, ce, autocast=autocast)
        opt.step()
    sync(device)
    total = time.perf_counter() - t0
    n = len(loader) * batch
    print("| epoch s | images/s | share producing batches |")
    print("|---:|---:|---:|")
    print(f"| {total:.2f} | {n / total:.0f} | {data_s / total:.1%} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--compile", action="store_true", help="include torch.compile (default on CUDA)")
    parser.add_argument("--epoch-images", type=int, default=50_000)
    parser.add_argument("--epoch-batch", type=int, default=128)
    parser.add_argument("--m", type=int, default=64, help="m-sharpness chunk of the epoch")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that every path runs")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        args.batch, args.rounds, args.epoch_images, args.epoch_batch, args.m = 8, 1, 64, 16, 8
    compile_ = args.compile or device.type == "cuda"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# samlab step on {name}: torch {torch.__version__}")
    steps_table(device, args.batch, args.rounds, compile_)
    cifar_epoch(device, args.epoch_images, args.epoch_batch, args.m)


if __name__ == "__main__":
    main()
