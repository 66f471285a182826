"""The SAM-family step around any base optimizer (docs/science.md §1).

Why a wrapper with ``forward_backward``/``step`` instead of a closure: the SAM step needs the model,
the batch and the loss (chunks of m samples for m-sharpness, an ascent loss on the outputs for OBF,
BatchNorm freezing between the two passes). ``forward_backward`` leaves the final gradient in
``p.grad``; ``step`` applies the base optimizer once per update, so gradient accumulation is just
several ``forward_backward(..., accum_steps=k)`` calls before one ``step``.

Contracts the training loop relies on
- ``p.grad`` are preallocated views into one flat buffer per (device, dtype) (``FlatBuffers``):
  zeroing, accumulation, noise and the DDP all-reduce are one kernel per buffer.
- **DDP**: wrap the model in ``DistributedDataParallel`` and call ``forward_backward`` on the wrapped
  model. Every backward here runs under ``model.no_sync()``; ``step()`` averages the final gradients
  across ranks **once per update**, one ``all_reduce`` per flat buffer (per dtype), when
  ``torch.distributed`` is initialised with world size > 1 — for plain SGD/AdamW too. So each rank
  perturbs with its own local gradient (as the reference code does), unless ``sync_perturbation``.
- **fp16**: pass ``grad_scaler=torch.amp.GradScaler(...)`` to the wrapper (or the factory) and run the
  forwards under autocast (``forward_backward(..., autocast=torch.float16)``). Both backward passes
  are scaled; the ascent gradient is unscaled before it is normalised; if either pass is non-finite the
  whole update is skipped (``opt.last_step_skipped``) and the scale backs off, identically on all ranks.
  bf16 needs no scaler (``autocast=torch.bfloat16``).

All per-parameter maths is ``torch._foreach_*`` over preallocated buffers; w is restored by copy.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from samlab.optim._ops import EPS, FlatBuffers, flat_norm
from samlab.optim.adaptive import AdaptiveScaling
from samlab.optim.ascent import Ascent, create_ascent
from samlab.optim.gsam import GSAMCorrection
from samlab.optim.schedules import RhoSchedule, constant_rho

LossFn = Callable[[Tensor, Tensor], Tensor]
PerturbationHook = Callable[["SAM", nn.Module, Tensor, Tensor], None]


@dataclass
class StepStats:
    """What one ``forward_backward`` saw: the training loop and the analysis hooks read these."""

    loss: float  # clean training loss at w (mean over the micro-batch)
    logits: Tensor  # clean outputs at w, detached
    perturbed_loss: float | None = None  # training loss at w + e
    perturbation_norm: float | None = None  # ‖e‖, global L2 (mean over chunks)
    rho: float | None = None
    perturbed_logits: Tensor | None = None  # outputs at w + e (return_outputs=True)
    ascent_loss: float | None = None  # P, the loss the perturbation climbs (SAM: = loss; OBF: surrogate S)
    perturbations: list[list[Tensor]] | None = None  # e per chunk (return_perturbation=True)
    overflow: bool = False  # fp16: a pass was non-finite, the update will be skipped
    targets: Tensor | None = None  # the micro-batch's labels (set by the training loop for on_step callbacks)


def _no_sync(model: nn.Module):
    """Backward without DDP's per-bucket all-reduce: ``step`` averages once per update."""
    return model.no_sync() if hasattr(model, "no_sync") else nullcontext()


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def _distributed_world(process_group=None) -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(process_group)
    return 1


class GradientStep(torch.optim.Optimizer):
    """Plain step: one forward-backward per micro-batch, then the base optimizer.

    Shares ``param_groups`` and ``state`` with the base optimizer, so LR schedulers and
    ``state_dict`` work as for the base optimizer itself. ``max_grad_norm`` clips the final
    (accumulated, rank-averaged) gradient once per update.
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer,
        max_grad_norm: float | None = None,
        grad_scaler: torch.amp.GradScaler | None = None,
        process_group: Any = None,
    ):
        if not isinstance(base_optimizer, torch.optim.Optimizer):
            raise TypeError(f"base_optimizer must be a torch.optim.Optimizer, got {type(base_optimizer)!r}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {max_grad_norm}")
        self.base_optimizer = base_optimizer
        self.max_grad_norm = max_grad_norm
        self.grad_scaler = grad_scaler if grad_scaler is not None and grad_scaler.is_enabled() else None
        self.process_group = process_group
        # Share the base optimizer's groups/state: schedulers that edit param_groups act on both.
        self.defaults = base_optimizer.defaults
        self.param_groups = base_optimizer.param_groups
        self.state = base_optimizer.state
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}
        self._optimizer_state_dict_pre_hooks = {}
        self._optimizer_state_dict_post_hooks = {}
        self._optimizer_load_state_dict_pre_hooks = {}
        self._optimizer_load_state_dict_post_hooks = {}
        self.params: list[Tensor] = [p for g in self.param_groups for p in g["params"] if p.requires_grad]
        if not self.params:
            raise ValueError("the base optimizer has no trainable parameters")
        self._grad_buffers = FlatBuffers(self.params)
        self.grads: list[Tensor] = self._grad_buffers.views
        for p, g in zip(self.params, self.grads):
            p.grad = g
        self._overflow = False
        self._grads_zero = True  # known all-zero (after step): the first chunk skips a memset
        self.last_step_skipped = False

    # -- helpers ---------------------------------------------------------------------------------
    def _attach_grads(self) -> None:
        """Re-attach the flat-buffer views if someone set ``p.grad`` to None or replaced it."""
        for p, g in zip(self.params, self.grads):
            if p.grad is not g:
                if p.grad is not None:
                    g.copy_(p.grad)
                    self._grads_zero = False
                else:
                    g.zero_()
                p.grad = g

    def _scale(self, loss: Tensor) -> Tensor:
        return self.grad_scaler.scale(loss) if self.grad_scaler is not None else loss

    def _all_reduce_grads(self) -> None:
        """Average the final gradients over ranks: one all-reduce per flat (device, dtype) buffer."""
        world = _distributed_world(self.process_group)
        if world == 1:
            return
        works = [dist.all_reduce(f, group=self.process_group, async_op=True) for f in self._grad_buffers.flats]
        for w, f in zip(works, self._grad_buffers.flats):
            w.wait()
            f.mul_(1.0 / world)

    # -- one micro-batch -------------------------------------------------------------------------
    def forward_backward(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: LossFn, accum_steps: int = 1,
        return_outputs: bool = False, autocast: torch.dtype | None = None, **_: Any,
    ) -> StepStats:
        """Forward, loss, backward of ``loss / accum_steps`` (gradients add up in ``p.grad``)."""
        self._attach_grads()
        self._grads_zero = False
        with _no_sync(model):
            with _autocast(inputs.device, autocast):
                logits = model(inputs)
                loss = loss_fn(logits, targets)
            self._scale(loss / accum_steps).backward()
        return StepStats(loss=float(loss.detach()), logits=logits.detach())

    # -- one update ------------------------------------------------------------------------------
    def _final_gradient(self) -> None:
        """Hook for subclasses: make ``p.grad`` hold the final local gradient."""

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ARG002 - closures do not fit the two-pass step
        """Average over DDP ranks (once), unscale (fp16), clip once, base step, zero gradients."""
        self._final_gradient()
        if self._overflow:  # a pass overflowed on this rank: make every rank see it and skip
            for f in self._grad_buffers.flats:
                f.fill_(float("inf"))
        self._all_reduce_grads()
        scaler = self.grad_scaler
        if scaler is not None:
            scaler.unscale_(self.base_optimizer)
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm, foreach=True)
        if scaler is not None:
            before = scaler.get_scale()
            scaler.step(self.base_optimizer)
            scaler.update()
            self.last_step_skipped = scaler.get_scale() < before
        else:
            self.base_optimizer.step()
            self.last_step_skipped = False
        self._overflow = False
        self.zero_grad()

    def zero_grad(self, set_to_none: bool = False) -> None:  # noqa: ARG002 - buffers stay allocated
        self._attach_grads()
        self._grad_buffers.zero_()
        self._grads_zero = True

    def state_dict(self) -> dict:
        return {"base": self.base_optimizer.state_dict(), "wrapper": self._wrapper_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.base_optimizer.load_state_dict(state_dict["base"])
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self._load_wrapper_state(state_dict.get("wrapper", {}))

    def _wrapper_state(self) -> dict:
        return {"grad_scaler": self.grad_scaler.state_dict()} if self.grad_scaler is not None else {}

    def _load_wrapper_state(self, state: dict) -> None:
        if self.grad_scaler is not None and state.get("grad_scaler"):
            self.grad_scaler.load_state_dict(state["grad_scaler"])

    @property
    def lr(self) -> float:
        return float(self.param_groups[0]["lr"])

    def extra_buffers(self) -> int:
        """Parameter-sized buffers held beyond the base optimizer's (gradients not counted)."""
        return 0


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextmanager
def frozen_batchnorm_stats(model: nn.Module, modules: list | None = None):
    """Keep BatchNorm running statistics fixed (momentum 0) while still normalising with batch stats."""
    saved = []
    for mod in _batchnorms(model) if modules is None else modules:
        saved.append((mod, mod.momentum, mod.num_batches_tracked.clone() if mod.num_batches_tracked is not None else None))
        mod.momentum = 0.0
    try:
        yield
    finally:
        for mod, momentum, tracked in saved:
            mod.momentum = momentum
            if tracked is not None:
                mod.num_batches_tracked.copy_(tracked)


class SAM(GradientStep):
    """The SAM family (Foret et al. 2021 and relatives) with m-sharpness, as docs/science.md §1–§6.

    For every chunk of ``m`` samples: ascent pass (direction from ``ascent``: ``"loss"`` = SAM,
    ``"obf"``, ``"random"``) → e = ρ·u (u = g/‖g‖, or ASAM-scaled with ``adaptive``) → perturbed
    pass at w + e (training loss, BatchNorm stats frozen) → optional GSAM correction (``gsam``) →
    restore w by copy → weight 1/(chunks × accum_steps). The base optimizer steps once per update.

    Options: ``rho`` (float or schedule of the LR), ``perturbation_batch_size`` (m; None = batch),
    ``perturbed_params`` (subset that is perturbed, e.g. the classifier for LSAM; all are updated),
    ``sync_perturbation`` (average the ascent gradient over DDP ranks before normalising),
    ``grad_scaler`` (fp16), ``max_grad_norm`` (clip once, on the final gradient).
    Extra memory: one parameter-sized backup of w (+1 for GSAM, +1 accumulator when there are
    several chunks or micro-batches).
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer,
        rho: float | RhoSchedule = 0.05,
        perturbation_batch_size: int | None = None,
        max_grad_norm: float | None = None,
        *,
        ascent: str | Ascent = "loss",
        adaptive: AdaptiveScaling | str | None = None,
        gsam: GSAMCorrection | None = None,
        perturbed_params: Iterable[Tensor] | None = None,
        sync_perturbation: bool = False,
        grad_scaler: torch.amp.GradScaler | None = None,
        process_group: Any = None,
    ):
        super().__init__(base_optimizer, max_grad_norm=max_grad_norm, grad_scaler=grad_scaler, process_group=process_group)
        self.rho_schedule = constant_rho(rho) if isinstance(rho, (int, float)) else rho
        if perturbation_batch_size is not None and (int(perturbation_batch_size) != perturbation_batch_size or perturbation_batch_size < 1):
            raise ValueError(f"perturbation_batch_size must be an integer >= 1, got {perturbation_batch_size}")
        self.perturbation_batch_size = None if perturbation_batch_size is None else int(perturbation_batch_size)
        self.ascent = create_ascent(ascent) if isinstance(ascent, str) else ascent
        self.adaptive = AdaptiveScaling(adaptive) if isinstance(adaptive, str) else adaptive
        self.gsam = gsam
        self.sync_perturbation = bool(sync_perturbation)
        # The perturbed subset (LSAM: the classifier); default all trainable parameters.
        if perturbed_params is None:
            self._pidx = list(range(len(self.params)))
        else:
            ids = {id(p) for p in perturbed_params}
            self._pidx = [i for i, p in enumerate(self.params) if id(p) in ids]
            if not self._pidx or len(self._pidx) != len(ids):
                raise ValueError("perturbed_params must be a non-empty subset of the optimizer's trainable parameters")
        if len(self._pidx) < len(self.params):  # lay the perturbed subset out first: a contiguous prefix
            self._grad_buffers = FlatBuffers(self.params, first=set(self._pidx))
            self.grads = self._grad_buffers.views
            for p, g in zip(self.params, self.grads):
                p.grad = g
        # A strict subset (LSAM): the ascent gradient is taken for it alone (autograd prunes the rest).
        self._subset = len(self._pidx) < len(self.params)
        self.pparams = [self.params[i] for i in self._pidx]
        self.pgrads = [self.grads[i] for i in self._pidx]
        backup = FlatBuffers(self.pparams)
        self.backup: list[Tensor] = backup.views
        self._backup_flats = backup.flats
        saved = FlatBuffers(self.pparams) if gsam is not None else None
        self._gsam_saved: list[Tensor] | None = saved.views if saved is not None else None
        self._gsam_saved_flats = saved.flats if saved is not None else []
        prefixes = {k: self._grad_buffers.prefix(k) for k in self._grad_buffers.keys}
        self._pgrad_flats = [v for v in prefixes.values() if v.numel()]  # pgrads as flat buffers
        self._gsam_pgrad_flats = [prefixes[k] for k in saved.keys] if saved is not None else []
        self._backup_pgrad_flats = [prefixes[k] for k in backup.keys]  # aligned with _backup_flats (ASAM)
        self._accum: FlatBuffers | None = None  # allocated only for several chunks/micro-batches
        self._pending = False
        self._micro = 0
        self._bn_cache: tuple[weakref.ref, list] | None = None
        self._hooks: list[PerturbationHook] = []

    # -- configuration ---------------------------------------------------------------------------
    @property
    def rho(self) -> float:
        return float(self.rho_schedule(self.lr))

    def register_perturbation_hook(self, hook: PerturbationHook) -> Callable[[], None]:
        """``hook(opt, model, inputs, targets)`` runs at w + e, before the perturbed pass (e.g. to
        evaluate extra quantities at the phantom parameters w̃; ``opt.perturbation()`` gives e).
        Returns a function that removes the hook."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook)

    @torch.no_grad()
    def perturbation(self) -> list[Tensor]:
        """e = w̃ − w for the perturbed parameters (allocates; only valid inside a hook)."""
        return torch._foreach_sub(self.pparams, self.backup)

    def extra_buffers(self) -> int:
        n = len(self.backup) and 1
        n += 1 if self._gsam_saved is not None else 0
        n += 1 if self._accum is not None else 0
        return n

    def _chunks(self, inputs: Tensor, targets: Tensor) -> list[tuple[Tensor, Tensor]]:
        n = inputs.shape[0]
        m = self.perturbation_batch_size or n
        if n % m:
            raise ValueError(f"perturbation_batch_size m={m} must divide the batch size {n}")
        return list(zip(inputs.split(m), targets.split(m)))

    def _model_batchnorms(self, model: nn.Module) -> list:
        if self._bn_cache is None or self._bn_cache[0]() is not model:
            self._bn_cache = (weakref.ref(model), _batchnorms(model))
        return self._bn_cache[1]

    # -- the perturbation ------------------------------------------------------------------------
    @torch.no_grad()
    def _perturb(self, rho: float) -> float:
        """``pgrads`` hold the ascent direction g: move the perturbed parameters to w + e and return ‖e‖.

        SAM and ASAM fold the normalisation into the one update pass, w ← w + (ρ/(‖d‖+ε))·d (d = g, or
        ASAM's a⊙g; the norm is read on the host once — the step reports it anyway), so d is never
        rewritten. Copies between gradients and GSAM's saved g run on the flat buffers."""
        gsam = self.gsam
        if gsam is not None and not gsam.backup_normalized:
            torch._foreach_copy_(self._gsam_saved_flats, self._gsam_pgrad_flats)
        if self.adaptive is None:
            norm = float(flat_norm(self._pgrad_flats))
            inv = 1.0 / (norm + EPS)
            if gsam is not None and gsam.backup_normalized:  # u = g/(‖g‖+ε)
                torch._foreach_copy_(self._gsam_saved_flats, self._gsam_pgrad_flats)
                torch._foreach_mul_(self._gsam_saved_flats, inv)
            torch._foreach_add_(self.pparams, self.pgrads, alpha=rho * inv)
            return rho * norm * inv
        c, size = self.adaptive.direction_(self._backup_pgrad_flats, self._backup_flats)  # backup ← a
        torch._foreach_copy_(self.backup, self.pparams)  # backup ← w again
        if gsam is not None and gsam.backup_normalized:  # e/ρ = c·d
            torch._foreach_copy_(self._gsam_saved_flats, self._gsam_pgrad_flats)
            torch._foreach_mul_(self._gsam_saved_flats, c)
        torch._foreach_add_(self.pparams, self.pgrads, alpha=rho * c)
        return rho * size

    @torch.no_grad()
    def _begin_chunk(self, first: bool = True) -> None:
        """Zero the gradient buffers (unless known zero, or the ascent gradient overwrites ``pgrads``
        rather than accumulating) and back up w (the partial sum lives in the accumulator). w is
        backed up once per ``forward_backward``: every chunk restores it bit-exactly from the backup,
        so later chunks (``first`` False) find it still valid."""
        if not self._grads_zero and not (self._subset and self.ascent.needs_backward):
            self._grad_buffers.zero_()
        self._grads_zero = False
        if first:
            torch._foreach_copy_(self.backup, self.pparams)

    def _ascent_backward(self, aloss: Tensor) -> None:
        """The ascent gradient into ``pgrads``. For a strict subset (LSAM) only its gradient is
        computed — ``autograd.grad`` skips the backbone's backward — and copied into ``pgrads``
        (the rest of the buffer is left stale: it is zeroed before the perturbed pass)."""
        if not self._subset:
            self._scale(aloss).backward()
            return
        grads = torch.autograd.grad(self._scale(aloss), self.pparams, materialize_grads=True)
        torch._foreach_copy_(self.pgrads, list(grads))

    @torch.no_grad()
    def _end_chunk(self, scale: float, weight: float, several: bool, final: bool) -> None:
        """Restore w by copy, GSAM correction (on the flat gradient buffers), then
        weight the chunk gradient and add it to the accumulator — or, for the last chunk of the last
        micro-batch, fold the accumulator into ``p.grad`` (no copy left for ``step``)."""
        torch._foreach_copy_(self.pparams, self.backup)
        if self.gsam is not None:
            self.gsam.apply_(self._gsam_pgrad_flats, self._gsam_saved_flats, scale=scale)
        if several:
            for acc, g in zip(self._accum.flats, self._grad_buffers.flats):  # one per (device, dtype)
                if final:
                    g.mul_(weight).add_(acc)
                    acc.zero_()
                else:
                    acc.add_(g, alpha=weight)
            self._pending = not final

    # -- one micro-batch -------------------------------------------------------------------------
    def forward_backward(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: LossFn, accum_steps: int = 1,
        return_outputs: bool = False, autocast: torch.dtype | None = None, return_perturbation: bool = False,
    ) -> StepStats:
        """Both passes for every chunk of ``inputs``; the final gradient (weighted by 1/accum_steps)
        is left in ``p.grad`` (after the last of ``accum_steps`` calls) for ``step``."""
        if accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {accum_steps}")
        self._attach_grads()
        chunks = self._chunks(inputs, targets)
        n_parts = len(chunks) * accum_steps
        weight = 1.0 / n_parts
        several = n_parts > 1
        if several and self._accum is None:
            self._accum = FlatBuffers(self.params)
        rho = self.rho
        scaler = self.grad_scaler
        bns = self._model_batchnorms(model)
        ascent = self.ascent
        last_call = self._micro == accum_steps - 1
        losses, alosses, plosses, norms, logits_all, plogits_all, perts = [], [], [], [], [], [], []
        with _no_sync(model):
            for ci, (x, y) in enumerate(chunks):
                self._begin_chunk(first=ci == 0)
                # 1. clean (ascent) pass
                if ascent.needs_backward:
                    with _autocast(x.device, autocast):
                        logits = model(x)
                        loss = loss_fn(logits, y)
                        aloss = ascent.loss(logits, y, loss)
                    self._ascent_backward(aloss)
                    if scaler is not None:  # unscale before normalising
                        for f in self._pgrad_flats:
                            f.mul_(1.0 / scaler.get_scale())
                else:
                    with torch.no_grad(), _autocast(x.device, autocast):
                        logits = model(x)
                        loss = loss_fn(logits, y)
                    aloss = None
                    ascent.fill_(self._grad_buffers.flats)
                losses.append(loss.detach())
                if aloss is not None:
                    alosses.append(aloss.detach())
                logits_all.append(logits.detach())
                if self.sync_perturbation and _distributed_world(self.process_group) > 1:
                    self._all_reduce_grads()  # every rank perturbs with the global ascent gradient
                # 2. perturb. A non-finite fp16 ascent gradient skips the update (in step()); the
                # perturbed pass still runs, unperturbed, so every DDP rank runs the same collectives
                # (DDP broadcasts buffers in each forward).
                if scaler is not None and not bool(torch.isfinite(flat_norm(self._pgrad_flats))):
                    self._overflow = True
                norms.append(0.0 if self._overflow else self._perturb(rho))
                for hook in self._hooks:
                    hook(self, model, x, y)
                if return_perturbation:
                    perts.append(self.perturbation())
                self._grad_buffers.zero_()
                # 3. perturbed pass (training loss; BatchNorm statistics frozen)
                with frozen_batchnorm_stats(model, bns):
                    with _autocast(x.device, autocast):
                        plogits = model(x)
                        ploss = loss_fn(plogits, y)
                    self._scale(ploss).backward()
                plosses.append(ploss.detach())
                if return_outputs:
                    plogits_all.append(plogits.detach())
                # 4. restore by copy, GSAM correction; 5. weight and accumulate
                self._end_chunk(scaler.get_scale() if scaler is not None else 1.0, weight, several,
                                final=last_call and ci == len(chunks) - 1)
        self._micro = 0 if last_call else self._micro + 1
        overflow = self._overflow
        return StepStats(
            loss=float(torch.stack(losses).double().mean()),
            logits=logits_all[0] if len(logits_all) == 1 else torch.cat(logits_all),
            perturbed_loss=float(torch.stack(plosses).double().mean()) if plosses else None,
            perturbation_norm=sum(norms) / len(norms) if norms else None,
            rho=rho,
            perturbed_logits=torch.cat(plogits_all) if return_outputs and plogits_all else None,
            ascent_loss=float(torch.stack(alosses).double().mean()) if alosses else None,
            perturbations=perts if return_perturbation else None,
            overflow=overflow,
        )

    def _final_gradient(self) -> None:
        if self._overflow and self._accum is not None:  # skipped update: drop the partial sums
            self._accum.zero_()
            self._pending = False
        if self._pending:  # step() called before accum_steps micro-batches: use what was accumulated
            for acc, g in zip(self._accum.flats, self._grad_buffers.flats):
                g.copy_(acc)
                acc.zero_()
            self._pending = False
        self._micro = 0

    def _wrapper_state(self) -> dict:
        state = super()._wrapper_state()
        describe = getattr(self.rho_schedule, "describe", None)
        state.update({
            "perturbation_batch_size": self.perturbation_batch_size,
            "rho_schedule": describe() if describe else None,
            "ascent": {**self.ascent.describe(), "state": self.ascent.state_dict()},
            "adaptive": self.adaptive.describe() if self.adaptive else None,
            "gsam": self.gsam.describe() if self.gsam else None,
        })
        return state

    def _load_wrapper_state(self, state: dict) -> None:
        super()._load_wrapper_state(state)
        ascent = state.get("ascent")
        if ascent is not None:
            if ascent.get("name") != self.ascent.name:
                raise ValueError(f"state_dict is for ascent {ascent.get('name')!r}, this optimizer uses {self.ascent.name!r}")
            self.ascent.load_state_dict(ascent.get("state", {}))
