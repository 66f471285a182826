"""samlab's SAM step against its peers, in one process, on the same models (CPU by default).

Peers, each on its own copy of the same model and batch:
- ``loop``: a straightforward per-parameter-loop SAM written here in davda54/sam's style (clone backup,
  ``p.data = old`` pointer-swap restore, per-tensor norms; ``adaptive`` = its ASAM);
- ``pytorch_optimizer``'s ``SAM`` (``adaptive=True`` = its ASAM) and ``GSAM`` (PyPI ``pytorch-optimizer``,
  the ``bench`` extra).
samlab is configured to compute the same step (ASAM: placement ``both``, η = 0; GSAM: α = 0.4, constant ρ).

1. **Equality**: one step of every peer equals samlab's on a float64 copy of the same model and state
   (pytorch_optimizer reduces its norms in float32, hence its looser bound) — checked before any timing.
2. **Full step**: forward-backward(s) + optimizer, resnet18 at 32 px and a small ViT, batch 64, per
   thread count; medians, min/max over interleaved rounds, peer ÷ samlab and step ÷ SGD (torch SGD).
   ``floor`` is what no SAM step can beat: both passes (BatchNorm frozen in the second) + one torch SGD
   step, no perturbation; (step − floor) ÷ SGD step is what an implementation adds to it.
3. **Bookkeeping**: everything but the model's compute, on ViT-S/16's and resnet18's parameter lists: a
   "model" whose loss is Σ⟨wᵢ, cᵢ⟩ makes autograd hand over gradients exactly as a real backward does
   (a fresh tensor, or an add into an existing ``p.grad``), and the time of the two bare passes is
   subtracted. This is backup + norm + perturb + restore + base step + gradient hand-over.
4. **Memory**: parameter-sized buffers each implementation holds between the two passes (bytes of the
   tensors it keeps ÷ parameter bytes; momentum buffers and gradients not counted).

Timings are interleaved (every implementation once per round, so load on the shared machine hits all
alike). On Linux the process first tells glibc's allocator to keep freed memory, as samlab's CPU training
does (``--allocator retain``, the default; ``samlab.train.allocator``): otherwise whether a step's fresh
gradient tensors cost page faults depends on what ran before in the process (the same samlab SAM step
measured 0 and 12 000 faults per step, 9 ms of a 180 ms step), and one implementation's timing would depend
on its neighbours'. ``--allocator system`` measures with glibc's defaults.

``python benchmarks/optim_step.py`` (``make bench``) takes about 2-3 minutes on 2 CPU cores; ``--rounds N``
for more rounds, ``--quick`` for a smoke run, ``--device cuda`` on a GPU.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from collections.abc import Callable

import samlab  # noqa: F401, I001 - torchvision guard: before timm (docs/install.md)
import timm
import torch
from pytorch_optimizer import GSAM as POGSAM
from pytorch_optimizer import SAM as POSAM
from pytorch_optimizer.optimizer.utils import (
    disable_running_stats,
    enable_running_stats,
)
from torch import Tensor, nn

from samlab.optim import create_optimizer
from samlab.train.allocator import retain_freed_memory

RHO, ASAM_RHO, ALPHA, LR, MOMENTUM = 0.05, 0.5, 0.4, 0.1, 0.9
ce = nn.functional.cross_entropy


# -- the peers -----------------------------------------------------------------------------------
class LoopSAM:
    """davda54/sam's algorithm as most code copies it: a Python loop per parameter, w cloned every step,
    restored by pointer swap (``p.data = old``), e = (w² if adaptive) ⊙ g · ρ/‖(|w| if adaptive) ⊙ g‖."""

    def __init__(self, params, rho: float, adaptive: bool = False, **base):
        self.params = [p for p in params if p.requires_grad]
        self.rho, self.adaptive = rho, adaptive
        self.base = torch.optim.SGD(self.params, **base)
        self.old: dict[Tensor, Tensor] = {}

    @torch.no_grad()
    def first_step(self) -> None:
        norm = torch.norm(
            torch.stack(
                [
                    ((torch.abs(p) if self.adaptive else 1.0) * p.grad).norm(p=2)
                    for p in self.params
                    if p.grad is not None
                ]
            ),
            p=2,
        )
        scale = self.rho / (norm + 1e-12)
        for p in self.params:
            if p.grad is None:
                continue
            self.old[p] = p.data.clone()
            p.add_((torch.pow(p, 2) if self.adaptive else 1.0) * p.grad * scale.to(p))
        self.base.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self) -> None:
        for p in self.params:
            if p in self.old:
                p.data = self.old.pop(p)
        self.base.step()
        self.base.zero_grad(set_to_none=True)

    def held(self) -> list[Tensor]:
        return list(self.old.values())


class ConstantRho:
    """pytorch_optimizer's GSAM asks a scheduler for ρ."""

    def __init__(self, rho: float):
        self.rho = rho

    def step(self) -> float:
        return self.rho


def two_pass(model, x, y, first: Callable[[], None], second: Callable[[], None]) -> None:
    """The closure-free SAM loop of the first_step/second_step peers (BatchNorm frozen by momentum 0)."""
    ce(model(x), y).backward()
    first()
    disable_running_stats(model)
    ce(model(x), y).backward()
    enable_running_stats(model)
    second()


def build(impl: str, model: nn.Module) -> tuple[Callable[[Tensor, Tensor], None], object]:
    """(step function, optimizer) for implementation ``impl`` on ``model``."""
    sgd = {"lr": LR, "momentum": MOMENTUM}
    params = list(model.parameters())
    if impl in ("torch sgd", "floor"):
        opt = torch.optim.SGD(params, **sgd)
        passes = 2 if impl == "floor" else 1  # floor: what no SAM step can beat, both passes + the base step

        def fn(x, y):
            for i in range(passes):
                opt.zero_grad(set_to_none=True)
                if i:  # the second pass with BatchNorm's running statistics frozen, as in every SAM
                    disable_running_stats(model)
                ce(model(x), y).backward()
            if passes == 2:
                enable_running_stats(model)
            opt.step()

        return fn, opt
    if impl.startswith("samlab"):
        name = impl.split()[1]
        cfg = {
            "sam": {"rho": RHO},
            "asam": {"rho": ASAM_RHO, "adaptive": "both"},
            "gsam": {"rho": RHO, "alpha": ALPHA},
            "obf": {"rho": RHO},
            "sgd": {},
        }[name]
        opt = create_optimizer(name, model, **sgd, **cfg)

        def fn(x, y):
            opt.forward_backward(model, x, y, ce)
            opt.step()

        return fn, opt
    if impl.startswith("loop"):
        opt = LoopSAM(params, ASAM_RHO if "asam" in impl else RHO, adaptive="asam" in impl, **sgd)
        return (lambda x, y: two_pass(model, x, y, opt.first_step, opt.second_step)), opt
    if impl in ("pytorch_optimizer sam", "pytorch_optimizer asam"):
        adaptive = impl.endswith("asam")
        opt = POSAM(params, torch.optim.SGD, rho=ASAM_RHO if adaptive else RHO, adaptive=adaptive, **sgd)
        return (
            lambda x, y: two_pass(
                model, x, y, lambda: opt.first_step(zero_grad=True), lambda: opt.second_step(zero_grad=True)
            )
        ), opt
    if impl == "pytorch_optimizer gsam":
        opt = POGSAM(params, torch.optim.SGD(params, **sgd), model, ConstantRho(RHO), alpha=ALPHA)

        def fn(x, y):
            opt.set_closure(ce, x, y)
            opt.step()

        return fn, opt
    raise ValueError(impl)


FAMILIES = {
    "sam": ["samlab sam", "loop sam", "pytorch_optimizer sam"],
    "asam": ["samlab asam", "loop asam", "pytorch_optimizer asam"],
    "gsam": ["samlab gsam", "pytorch_optimizer gsam"],
}
TIMED = ["torch sgd", "floor", "samlab sgd", "samlab obf", *[i for f in FAMILIES.values() for i in f]]


# -- models --------------------------------------------------------------------------------------
def resnet18() -> nn.Module:
    return timm.create_model("resnet18", num_classes=10)


def small_vit() -> nn.Module:
    """A small ViT for 32 px: patch 8 (16 tokens), width 128, depth 6 (1.2 M parameters)."""
    return timm.create_model(
        "vit_tiny_patch16_224", num_classes=10, img_size=32, patch_size=8, embed_dim=128, depth=6, num_heads=4
    )


MODELS = {"resnet18 (32 px)": resnet18, "small ViT (32 px, patch 8)": small_vit}


def copies(make: Callable[[], nn.Module], n: int, device, dtype=torch.float32) -> list[nn.Module]:
    torch.manual_seed(0)
    first = make().to(device=device, dtype=dtype)
    out = [first]
    for _ in range(n - 1):
        m = make().to(device=device, dtype=dtype)
        m.load_state_dict(first.state_dict())
        out.append(m)
    return out


# -- 1. equality ---------------------------------------------------------------------------------
def check_equal(device) -> None:
    print("\n## 1. One step of each peer equals samlab's (float64, same model and state)")
    print("| model | family | peer | max |Δw| / max |w| | bound |")
    print("|---|---|---|---:|---:|")
    torch.manual_seed(1)
    x = torch.randn(8, 3, 32, 32, device=device, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), device=device)
    for label, make in MODELS.items():
        for family, impls in FAMILIES.items():
            models = copies(make, len(impls), device, torch.float64)
            for m in models:
                m.train()
            after = []
            for impl, m in zip(impls, models):
                fn, _ = build(impl, m)
                fn(x, y)
                after.append(torch.cat([p.detach().reshape(-1) for p in m.parameters()]))
            ref = after[0]
            for impl, got in zip(impls[1:], after[1:]):
                err = float((got - ref).abs().max() / ref.abs().max())
                bound = 1e-5 if impl.startswith("pytorch_optimizer") else 1e-10  # its norms are float32
                print(f"| {label} | {family} | {impl} | {err:.1e} | {bound:.0e} |")
                if not err < bound:
                    raise SystemExit(
                        f"{impl} does not compute samlab's {family} step ({err:.2e}): timings would compare different maths"
                    )


# -- timing --------------------------------------------------------------------------------------
def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(fns: dict[str, Callable[[], None]], rounds: int, device, steps: int = 1) -> dict[str, list[float]]:
    for fn in fns.values():  # warm-up (lazily created state, allocator)
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            sync(device)
            times[k].append((time.perf_counter() - t0) / steps)
    return times


def fmt(ts: list[float]) -> str:
    return f"{statistics.median(ts) * 1e3:.1f} ({min(ts) * 1e3:.1f}–{max(ts) * 1e3:.1f})"


def full_steps(label: str, make, batch: int, rounds: int, device, results: dict) -> None:
    torch.manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    models = copies(make, len(TIMED), device)
    fns = {}
    for impl, m in zip(TIMED, models):
        m.train()
        fn, _ = build(impl, m)
        fns[impl] = lambda fn=fn: fn(x, y)
    t = interleaved(fns, rounds, device)
    med = {k: statistics.median(v) for k, v in t.items()}
    n = sum(p.numel() for p in models[0].parameters())
    print(f"\n### {label}: {n / 1e6:.2f} M parameters, batch {batch}, threads {torch.get_num_threads()}")
    print(
        "| implementation | step ms, median (min–max) | ÷ torch SGD step | (step − floor) ÷ SGD step | peer ÷ samlab |"
    )
    print("|---|---:|---:|---:|---:|")
    sgd, floor = med["torch sgd"], med["floor"]
    for impl in TIMED:
        ours = next((f[0] for f in FAMILIES.values() if impl in f), None)
        ratio = f"{med[impl] / med[ours]:.3f}" if ours and ours != impl else ""
        over = f"{(med[impl] - floor) / sgd:+.3f}" if impl not in ("torch sgd", "samlab sgd", "floor") else ""
        print(f"| {impl} | {fmt(t[impl])} | {med[impl] / sgd:.3f} | {over} | {ratio} |")
    results[(label, torch.get_num_threads())] = med


class DotModel(nn.Module):
    """Loss Σ⟨wᵢ, cᵢ⟩: autograd's backward hands over gᵢ = cᵢ as a fresh tensor per parameter (or adds it
    into an existing ``p.grad``), exactly as in a real model, at the cost of one read of w and c."""

    def __init__(self, shapes, device):
        super().__init__()
        g = torch.Generator(device="cpu").manual_seed(0)
        self.ws = nn.ParameterList([nn.Parameter(torch.randn(s, generator=g).to(device)) for s in shapes])
        self.cs = [torch.randn(s, generator=g).to(device) * 1e-3 for s in shapes]
        self.bn = None

    def forward(self, x: Tensor) -> Tensor:
        total = torch.stack([w.reshape(-1) @ c.reshape(-1) for w, c in zip(self.ws, self.cs)]).sum()
        return total.expand(x.shape[0], 1)


def dot_loss(z: Tensor, y: Tensor) -> Tensor:  # noqa: ARG001 - the labels are not used
    return z.mean()


def bookkeeping(rounds: int, device, results: dict) -> None:
    with torch.device("meta"):
        lists = {
            "ViT-S/16 parameter list": [p.shape for p in timm.create_model("vit_small_patch16_224").parameters()],
            "resnet18 parameter list": [p.shape for p in resnet18().parameters()],
        }
    global ce
    for label, shapes in lists.items():
        n = sum(s.numel() for s in shapes)
        x = torch.zeros(2, 1, device=device)
        y = torch.zeros(2, dtype=torch.long, device=device)
        impls = ["bare passes", "torch sgd", *[i for f in FAMILIES.values() for i in f]]
        fns, opts = {}, {}
        saved_ce, ce = ce, dot_loss
        try:
            for impl in impls:
                m = DotModel(shapes, device)
                if impl == "bare passes":  # two forward-backward passes, gradients released before each

                    def fn(m=m, x=x, y=y):
                        for _ in range(2):
                            m.zero_grad(set_to_none=True)
                            dot_loss(m(x), y).backward()
                        m.zero_grad(set_to_none=True)
                else:
                    step, opts[impl] = build(impl, m)

                    def fn(step=step, x=x, y=y):
                        return step(x, y)

                fns[impl] = fn
            t = interleaved(fns, rounds, device, steps=3)
        finally:
            ce = saved_ce
        med = {k: statistics.median(v) for k, v in t.items()}
        bare = med["bare passes"]
        print(
            f"\n### Bookkeeping on a {label} ({len(shapes)} tensors, {n / 1e6:.1f} M parameters), threads {torch.get_num_threads()}"
        )
        print(
            f"bare passes (2 forward-backward of the Σ⟨w, c⟩ loss): {fmt(t['bare passes'])} ms, subtracted below "
            "(torch sgd: one pass subtracted)"
        )
        print("| implementation | bookkeeping ms, median | step ms, median (min–max) | peer ÷ samlab (bookkeeping) |")
        print("|---|---:|---:|---:|")
        book = {}
        for impl in impls[1:]:
            book[impl] = med[impl] - (bare / 2 if impl == "torch sgd" else bare)
        for impl in impls[1:]:
            ours = next((f[0] for f in FAMILIES.values() if impl in f), None)
            ratio = f"{book[impl] / book[ours]:.2f}×" if ours and ours != impl else ""
            print(f"| {impl} | {book[impl] * 1e3:.1f} | {fmt(t[impl])} | {ratio} |")
        results[("bookkeeping", label, torch.get_num_threads())] = book


# -- memory --------------------------------------------------------------------------------------
def held_between_passes(impl: str, make, device) -> float:
    """Bytes of parameter-sized tensors the implementation holds right before the perturbed backward,
    beyond parameters, gradients and momentum buffers, ÷ parameter bytes."""
    model = copies(make, 1, device)[0].train()
    x = torch.randn(4, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (4,), device=device)
    _, opt = build(impl, model)
    params = list(model.parameters())
    pbytes = sum(p.numel() * p.element_size() for p in params)
    seen: dict[int, int] = {}

    def add(ts):
        for t in ts:
            if isinstance(t, Tensor) and t.numel() > 1:
                seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()

    def measure_state(state):
        for s in state.values():
            add(v for k, v in s.items() if k != "momentum_buffer")

    if impl.startswith("samlab"):

        def hook(o, *_):
            b = o.buffers
            add(b.backup)
            add(b.saved or [])
            add(b.gsam or [])
            add(o._init or [])

        opt.register_perturbation_hook(hook)
        opt.forward_backward(model, x, y, ce)
        opt.step()
    elif impl.startswith("loop"):
        ce(model(x), y).backward()
        opt.first_step()
        add(opt.held())
    elif impl == "pytorch_optimizer gsam":
        ce(model(x), y).backward()
        opt.perturb_weights(RHO)
        measure_state(opt.state)
    else:
        ce(model(x), y).backward()
        opt.first_step(zero_grad=True)
        measure_state(opt.state)
    return sum(seen.values()) / pbytes


def memory(device) -> None:
    print("\n## 4. Memory held between the two passes (parameter-sized buffers; gradients and momentum not counted)")
    print("| implementation | resnet18 | samlab's own count (extra_buffers) |")
    print("|---|---:|---:|")
    for impl in [i for f in FAMILIES.values() for i in f]:
        held = held_between_passes(impl, resnet18, device)
        own = ""
        if impl.startswith("samlab"):
            own = str(build(impl, resnet18().to(device))[1].extra_buffers())
        print(f"| {impl} | {held:.2f} | {own} |")
    print(
        "(samlab gsam keeps autograd's ascent-gradient tensors as GSAM's saved g: counted; "
        "pytorch_optimizer gsam holds old_g and e_w; every peer also allocates e = c·g transiently.)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds per table (default 3; more is steadier)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 1 thread count, batch 16: a smoke run")
    parser.add_argument("--skip", nargs="*", default=[], choices=["equality", "full", "bookkeeping", "memory"])
    parser.add_argument(
        "--allocator", choices=["retain", "system"], default="retain", help="retain: glibc keeps freed memory"
    )
    args = parser.parse_args()
    allocator = "glibc defaults"
    if args.allocator == "retain":
        allocator = "freed memory retained (glibc mallopt)" if retain_freed_memory() else "system (mallopt unavailable)"
    if args.quick:
        args.rounds, args.threads, args.batch = 1, args.threads[:1], 16
    device = torch.device(args.device)
    print(
        f"# samlab SAM step vs peers: torch {torch.__version__}, device {device}, "
        f"pytorch_optimizer {importlib.metadata.version('pytorch_optimizer')}, rounds {args.rounds}, "
        f"allocator: {allocator}"
    )
    t0 = time.perf_counter()
    results: dict = {}
    if "equality" not in args.skip:
        check_equal(device)
    for threads in args.threads:
        torch.set_num_threads(threads)
        if "full" not in args.skip:
            print(f"\n## 2. Full step, {threads} thread(s)")
            for label, make in MODELS.items():
                full_steps(label, make, args.batch, args.rounds, device, results)
        if "bookkeeping" not in args.skip:
            print(f"\n## 3. Bookkeeping, {threads} thread(s)")
            bookkeeping(args.rounds, device, results)
    if "memory" not in args.skip:
        memory(device)
    print(f"\ntotal benchmark time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
