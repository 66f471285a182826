"""SAM-family step cost, measured side by side in one run (CPU by default; ``--device cuda`` on a GPU).

Prints four tables:
1. step time of each variant ÷ step time of the base optimizer alone (SGD momentum), same model and
   batch, on a small ViT and a ResNet — the issue's limit is 2.0 (goal ≤ 2.05 for SAM/ASAM/OBF,
   ≤ 2.10 for GSAM);
2. optimizer bookkeeping alone (everything but forward/backward: backup, norm, perturb, zero, restore,
   GSAM correction) of ``samlab.optim.SAM`` vs a straightforward per-parameter-loop SAM written here,
   on a ViT-S/16-sized parameter list (goal ≥ 1.5× faster);
3. extra memory over the base optimizer, in parameter-sized buffers (goal: SAM ≤ 1, GSAM ≤ 2);
4. m = batch/8 vs m = batch step time (goal ≤ 1.3×).

Timings are medians over interleaved rounds (variants alternate inside every round, so machine load
hits all of them alike; 5 rounds by default, for a shared CPU). Run: ``python benchmarks/optim_step.py``
(about 1–2 minutes on 2 CPU cores); ``--quick`` for a smoke run, ``--threads N`` for intra-op threads (default 1: stable on a shared CPU).
"""

from __future__ import annotations

import argparse
import statistics
import time

import samlab  # noqa: F401 - torchvision guard, before timm
import timm
import torch
from torch import nn

from samlab.models import create_model
from samlab.optim import SAM, create_optimizer
from samlab.optim._ops import EPS

VARIANTS = ["sgd", "sam", "asam", "obf", "gsam", "gsam_obf", "randsam", "lsam"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(fn, steps: int, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / steps


def interleaved(fns: dict[str, callable], rounds: int, steps: int, device: torch.device) -> dict[str, float]:
    for fn in fns.values():  # warm-up
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k].append(time_steps(fn, steps, device))
    return {k: statistics.median(v) for k, v in times.items()}


def step_fn(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, micro_batches: int = 1, **cfg):
    opt = create_optimizer(name, model, lr=0.01, **cfg)
    parts = list(zip(x.chunk(micro_batches), y.chunk(micro_batches)))

    def fn():
        for xb, yb in parts:
            opt.forward_backward(model, xb, yb, nn.functional.cross_entropy, accum_steps=micro_batches)
        opt.step()

    return fn


def model_ratios(label: str, model: nn.Module, x, y, rounds: int, steps: int, device) -> None:
    fns = {name: step_fn(name, model, x, y) for name in VARIANTS}
    m = x.shape[0] // 8
    fns[f"sam m={m}"] = step_fn("sam", model, x, y, perturbation_batch_size=m)
    fns[f"sgd, 8 micro-batches of {m}"] = step_fn("sgd", model, x, y, micro_batches=8)
    t = interleaved(fns, rounds, steps, device)
    base = t["sgd"]
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n## {label}: {n_params / 1e6:.2f} M parameters, batch {x.shape[0]}, base step {base * 1e3:.1f} ms")
    print("| variant | step ms | ÷ base |")
    print("|---|---:|---:|")
    for k, v in t.items():
        print(f"| {k} | {v * 1e3:.1f} | {v / base:.3f} |")
    print(f"\nm-sharpness: m = batch/8 vs m = batch: {t[f'sam m={m}'] / t['sam']:.3f}×; the same with the "
          f"small-batch cost of the model factored out (each ÷ its base at that batch size): "
          f"{(t[f'sam m={m}'] / t[f'sgd, 8 micro-batches of {m}']) / (t['sam'] / base):.3f}×")


class NaiveSAM:
    """The straightforward reference: a Python loop per parameter, a fresh clone of w every step and
    the gradient scaled out of place (as the popular implementations do); restore by assigning the
    clone back (``p.data = old``, zero-copy) or, with ``copy_restore``, by copying it back as samlab does."""

    def __init__(self, params: list[torch.Tensor], rho: float, copy_restore: bool = False):
        self.params, self.rho, self.old, self.copy_restore = params, rho, {}, copy_restore

    @torch.no_grad()
    def bookkeeping(self) -> None:
        grad_norm = torch.norm(torch.stack([p.grad.norm(p=2) for p in self.params]), p=2)
        scale = self.rho / (grad_norm + EPS)
        for p in self.params:
            self.old[p] = p.data.clone()
            p.add_(p.grad * scale)
        for p in self.params:  # zero_grad before the perturbed backward
            p.grad.zero_()
        for p in self.params:  # second_step: restore
            if self.copy_restore:
                p.data.copy_(self.old[p])
            else:
                p.data = self.old[p]
        for p in self.params:  # zero_grad after the base step
            p.grad.zero_()


def ours_bookkeeping(opt: SAM):
    """The exact per-chunk methods ``SAM.forward_backward`` runs, minus the two passes."""

    def fn():
        opt._begin_chunk()
        opt._perturb(opt.rho)
        opt._grad_buffers.zero_()
        opt._end_chunk(1.0, 1.0, several=False, final=True)
        opt.zero_grad()

    return fn


def bookkeeping(rounds: int, steps: int, device: torch.device) -> None:
    with torch.device("meta"):
        shapes = [p.shape for p in timm.create_model("vit_small_patch16_224").parameters()]
    n = sum(s.numel() for s in shapes)
    print(f"\n## Bookkeeping alone on a ViT-S/16 parameter list ({len(shapes)} tensors, {n / 1e6:.1f} M parameters)")

    def make():
        ps = [nn.Parameter(torch.randn(s, device=device)) for s in shapes]
        return ps

    naives = {}
    for label, copy_restore in (("naive loop, restore by p.data = clone", False), ("naive loop, restore by copy", True)):
        naive_params = make()
        for p in naive_params:
            p.grad = torch.randn_like(p)
        naives[label] = NaiveSAM(naive_params, rho=0.05, copy_restore=copy_restore)

    def refill(opt):
        for g in opt._grad_buffers.flats:
            g.normal_()

    fns = {k: v.bookkeeping for k, v in naives.items()}
    opts = {}
    for name in ("sam", "gsam", "asam"):
        ps = make()
        opt = SAM(torch.optim.SGD(ps, lr=0.01), rho=0.05) if name == "sam" else create_optimizer(name, nn.ParameterList(ps), lr=0.01)
        refill(opt)
        opts[name] = opt
        fns[f"samlab {name}"] = ours_bookkeeping(opt)
    t = interleaved(fns, rounds, steps, device)
    ref, ref_copy = (t[k] for k in naives)
    print("| implementation | ms per step | speed-up vs naive (p.data = clone) | vs naive (restore by copy) |")
    print("|---|---:|---:|---:|")
    for k, v in t.items():
        print(f"| {k} | {v * 1e3:.2f} | {ref / v:.2f}× | {ref_copy / v:.2f}× |")

    print("\n## Extra memory over the base optimizer (parameter-sized buffers; gradients not counted)")
    print("| optimizer | buffers held | measured (extra bytes ÷ parameter bytes) |")
    print("|---|---:|---:|")
    param_bytes = n * 4
    for name, opt in opts.items():
        held = sum(sum(t.numel() * t.element_size() for t in bufs) for bufs in (opt.backup, opt._gsam_saved or []))
        print(f"| samlab {name} | {opt.extra_buffers()} | {held / param_bytes:.2f} |")
    print("| samlab, m < batch or accumulation | +1 (the chunk accumulator) | — |")
    print("| naive per-parameter loop | 1 (re-allocated every step) | 1.00 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round of 1 step (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 1, 1
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"# samlab optimizer benchmark: torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    t0 = time.perf_counter()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.img_size, args.img_size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    vit = create_model("samlab_vit_micro", num_classes=10, in_chans=3, img_size=args.img_size).to(device)
    model_ratios(f"ViT (samlab_vit_micro, {args.img_size} px)", vit, x, y, args.rounds, args.steps, device)
    resnet = create_model("resnet10t", num_classes=10, in_chans=3).to(device)
    model_ratios(f"ResNet (timm resnet10t, {args.img_size} px)", resnet, x, y, args.rounds, args.steps, device)
    bookkeeping(args.rounds, args.steps, device)
    print(f"\ntotal benchmark time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
