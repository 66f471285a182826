"""The SAM-family step around any base optimizer (docs/optimizers.md; maths in science.md §1–§6).

For every chunk of ``m`` samples of a micro-batch:
1. ascent pass: the direction g (``ascent``: ``loss`` = SAM, ``obf``, ``random``) — autograd hands over
   fresh gradient tensors, which the step owns from then on;
2. perturb: e = ρ·u with u = g/‖g‖ (or ASAM-scaled); w + e, written once, is swapped into the
   parameters (``p.data``) and w is kept aside;
3. perturbed pass at w + e (training loss, BatchNorm running statistics untouched);
4. swap w back; GSAM correction; weight 1/(chunks × accum_steps) and accumulate.
The base optimizer steps once per update (``step``, in ``step.py`` with DDP/fp16 in ``ddp_amp.py``).
All maths is ``torch._foreach_*`` over parameter lists (ASAM's on the CPU over blocks of them, and w + e written
per tensor with ``out=``: docs/optimizers.md) with 0-dim device coefficients: no host reads.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from samlab.optim._ops import grads_of, owned_grads, release_grads, set_grads
from samlab.optim.adaptive import AdaptiveScaling
from samlab.optim.ascent import Ascent, create_ascent
from samlab.optim.batchnorm import batchnorms, frozen_batchnorm_stats
from samlab.optim.ddp_amp import all_reduce_mean, autocast_ctx, no_sync, world_size
from samlab.optim.gsam import GSAMCorrection
from samlab.optim.perturb import SAMBuffers, gsam_needs_copy, perturbed_weights, random_direction, swap_data
from samlab.optim.schedules import RhoSchedule, constant_rho
from samlab.optim.stats import StepStats
from samlab.optim.step import GradientStep, LossFn

PerturbationHook = Callable[["SAM", nn.Module, Tensor, Tensor], None]


class SAM(GradientStep):
    """The SAM family (Foret et al. 2021 and relatives) with m-sharpness.

    Options: ``rho`` (float or schedule of the LR), ``perturbation_batch_size`` (m; None = batch),
    ``ascent``, ``adaptive`` (ASAM placement), ``gsam`` (``GSAMCorrection``), ``perturbed_params``
    (subset that is perturbed, e.g. the classifier for LSAM; all are updated), ``sync_perturbation``
    (average the ascent gradient over DDP ranks before normalising), ``grad_scaler`` (fp16),
    ``max_grad_norm`` (clip once, on the final gradient), ``shrink_perturb``.
    Extra memory: w + e during the perturbed pass (+1 for GSAM, +1 while chunks or micro-batches are
    accumulated).
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
        shrink_perturb: float | None = None,
        shrink_buffers: list[Tensor] | None = None,
    ):
        super().__init__(
            base_optimizer,
            max_grad_norm=max_grad_norm,
            grad_scaler=grad_scaler,
            process_group=process_group,
            shrink_perturb=shrink_perturb,
            shrink_buffers=shrink_buffers,
        )
        self.rho_schedule = constant_rho(rho) if isinstance(rho, (int, float)) else rho
        if perturbation_batch_size is not None and (
            int(perturbation_batch_size) != perturbation_batch_size or perturbation_batch_size < 1
        ):
            raise ValueError(f"perturbation_batch_size must be an integer >= 1, got {perturbation_batch_size}")
        self.perturbation_batch_size = None if perturbation_batch_size is None else int(perturbation_batch_size)
        self.ascent = create_ascent(ascent) if isinstance(ascent, str) else ascent
        self.adaptive = AdaptiveScaling(adaptive) if isinstance(adaptive, str) else adaptive
        self.gsam = gsam
        self.sync_perturbation = bool(sync_perturbation)
        if perturbed_params is None:  # the perturbed subset (LSAM: the classifier); default all
            self._pidx = list(range(len(self.params)))
        else:
            ids = {id(p) for p in perturbed_params}
            self._pidx = [i for i, p in enumerate(self.params) if id(p) in ids]
            if not self._pidx or len(self._pidx) != len(ids):
                raise ValueError("perturbed_params must be a non-empty subset of the optimizer's trainable parameters")
        # A strict subset (LSAM): the ascent gradient is taken for it alone (autograd prunes the rest).
        self._subset = len(self._pidx) < len(self.params)
        self.pparams = [self.params[i] for i in self._pidx]
        self.buffers = SAMBuffers()
        if gsam is not None and gsam.alpha and gsam_needs_copy(self.adaptive, gsam):
            self.buffers.saved = [torch.zeros_like(p) for p in self.pparams]
        self._accumulated = False  # an update was ever split into several parts (accounting)
        self._bn_cache: tuple[weakref.ref, list] | None = None
        self._hooks: list[PerturbationHook] = []

    # -- configuration ---------------------------------------------------------------------------
    @property
    def backup(self) -> list[Tensor] | None:
        """w while w + e is in the parameters (inside a perturbation hook), else None."""
        return self.buffers.backup

    @property
    def rho(self) -> float:
        return float(self.rho_schedule(self.lr))

    def register_perturbation_hook(self, hook: PerturbationHook) -> Callable[[], None]:
        """``hook(opt, model, inputs, targets)`` runs at w + e, before the perturbed pass (e.g. to
        evaluate extra quantities at w̃; ``opt.perturbation()`` gives e). Returns a remover."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook)

    @torch.no_grad()
    def perturbation(self) -> list[Tensor]:
        """e = w̃ − w for the perturbed parameters (allocates; only valid inside a hook)."""
        return torch._foreach_sub(self.pparams, self.backup)

    def extra_buffers(self) -> int:
        n = 1 + super().extra_buffers()
        n += 1 if self.gsam is not None else 0  # its copy, or the ascent gradient it keeps
        n += 1 if self._accumulated else 0
        return n

    def _chunks(self, inputs: Tensor, targets: Tensor) -> list[tuple[Tensor, Tensor]]:
        n = inputs.shape[0]
        m = self.perturbation_batch_size or n
        if n % m:
            raise ValueError(f"perturbation_batch_size m={m} must divide the batch size {n}")
        return list(zip(inputs.split(m), targets.split(m)))

    def _model_batchnorms(self, model: nn.Module) -> list:
        if self._bn_cache is None or self._bn_cache[0]() is not model:
            self._bn_cache = (weakref.ref(model), batchnorms(model))
        return self._bn_cache[1]

    # -- the two passes --------------------------------------------------------------------------
    def _ascent_gradient(
        self, model, x, y, loss_fn, autocast, gsam_alpha: float | None
    ) -> tuple[list[Tensor], Tensor, Tensor | None, Tensor]:
        """Clean pass; returns (g for the perturbed parameters, loss, ascent loss, logits). ``p.grad`` is
        left None: g belongs to the step now. With GSAM's α the pass back-propagates −α·S·P, so g arrives
        as −α·S·(ascent gradient), the form GSAM's correction adds (gsam.py); S is not divided out. (A
        random direction is drawn unscaled: the caller multiplies it.)"""
        ascent = self.ascent
        if not ascent.needs_backward:
            with torch.no_grad(), autocast_ctx(x.device, autocast):
                logits = model(x)
                loss = loss_fn(logits, y)
            return random_direction(self.pparams, ascent), loss, None, logits
        with autocast_ctx(x.device, autocast):
            logits = model(x)
            loss = loss_fn(logits, y)
            aloss = ascent.loss(logits, y, loss)
        scaled = self._scale(aloss) if gsam_alpha is None else self._scale(aloss) * -gsam_alpha
        if self._subset:  # LSAM: the subset's gradient alone, the backbone's backward is skipped
            g = list(torch.autograd.grad(scaled, self.pparams, materialize_grads=True))
        else:
            scaled.backward()
            g = grads_of(self.pparams)
            release_grads(self.params)
        return g, loss, aloss, logits

    def _gsam_scale(self, alpha: float, device: torch.device) -> Tensor | float:
        """α·S, the factor GSAM's ascent gradient carries (S: the fp16 loss scale, a device tensor; else 1).
        GradScaler keeps S in float32: the product is taken in the parameters' precision, as the backward's."""
        if self.scaling is None:
            return alpha
        return alpha * self.scaling.scale_tensor(device).to(self.pparams[0].dtype)

    # -- one micro-batch -------------------------------------------------------------------------
    def forward_backward(
        self,
        model: nn.Module,
        inputs: Tensor,
        targets: Tensor,
        loss_fn: LossFn,
        accum_steps: int = 1,
        return_outputs: bool = False,
        autocast: torch.dtype | None = None,
        return_perturbation: bool = False,
    ) -> StepStats:
        """Both passes for every chunk of ``inputs``; after the last of ``accum_steps`` calls the final
        gradient (weighted by 1/accum_steps) is in ``p.grad`` for ``step``."""
        if accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {accum_steps}")
        chunks = self._chunks(inputs, targets)
        n_parts = len(chunks) * accum_steps
        weight = 1.0 / n_parts
        self._accumulated |= n_parts > 1
        first_call = self._micro == 0
        last_call = self._micro == accum_steps - 1
        if first_call:
            self._begin_update()
        rho = self.rho
        scaling = self.scaling
        gsam = self.gsam if self.gsam is not None and self.gsam.alpha else None
        alpha = gsam.alpha if gsam is not None else None
        unit = 1.0 if alpha is None else self._gsam_scale(alpha, inputs.device)  # S changes only in step()
        bns = self._model_batchnorms(model)
        buffers = self.buffers
        losses, alosses, plosses, norms, logits_all, plogits_all, perts = [], [], [], [], [], [], []
        with no_sync(model):
            for ci, (x, y) in enumerate(chunks):
                release_grads(self.params)
                # 1. clean (ascent) pass; GSAM: g = −α·S·(ascent gradient), see ``_ascent_gradient``
                g, loss, aloss, logits = self._ascent_gradient(model, x, y, loss_fn, autocast, alpha)
                losses.append(loss.detach())
                if aloss is not None:
                    alosses.append(aloss.detach())
                    if scaling is not None and gsam is None:  # unscale before normalising (1/S, a device tensor)
                        scaling.unscale_(g)
                elif gsam is not None:  # a random direction, brought to GSAM's form
                    torch._foreach_mul_(g, -unit)
                logits_all.append(logits.detach())
                if self.sync_perturbation and world_size(self.process_group) > 1:
                    all_reduce_mean(g, self.process_group)  # every rank perturbs with the global gradient
                # 2. perturb: w + e is written once and swapped in; w is kept aside, untouched
                perturbed, norm, buffers.gsam = perturbed_weights(
                    self.pparams, g, rho, buffers, self.adaptive, gsam, unit
                )
                buffers.backup = swap_data(self.pparams, perturbed)
                if scaling is not None and aloss is not None:  # a non-finite ascent gradient skips the update
                    norm = torch.where(scaling.note(norm), 0.0, norm)
                norms.append(norm)
                del g  # the name only: its tensors hold w + e (in the parameters) or GSAM's s (buffers.gsam)
                try:
                    for hook in self._hooks:
                        hook(self, model, x, y)
                    if return_perturbation:
                        perts.append(self.perturbation())
                    # 3. perturbed pass (training loss; BatchNorm running statistics untouched)
                    with frozen_batchnorm_stats(model, bns), autocast_ctx(x.device, autocast):
                        plogits = model(x)
                        ploss = loss_fn(plogits, y)
                    self._scale(ploss).backward()
                except BaseException:  # an error or an interrupt in the pass must not leave w + e behind
                    self._swap_back()
                    buffers.gsam = None
                    raise
                plosses.append(ploss.detach())
                if return_outputs:
                    plogits_all.append(plogits.detach())
                # 4. swap w back, GSAM correction; 5. weight and accumulate
                self._end_chunk(weight, final=last_call and ci == len(chunks) - 1)
        self._micro = 0 if last_call else self._micro + 1
        return StepStats(
            loss=_mean(losses),
            logits=logits_all[0] if len(logits_all) == 1 else torch.cat(logits_all),
            perturbed_loss=_mean(plosses),
            perturbation_norm=_mean(norms),
            rho=rho,
            perturbed_logits=torch.cat(plogits_all) if return_outputs and plogits_all else None,
            ascent_loss=_mean(alosses) if alosses else None,
            perturbations=perts if return_perturbation else None,
            overflow=scaling.found if scaling is not None else False,
        )

    def _swap_back(self) -> None:
        """w back into the parameters by pointer; the tensors of w + e are dropped (freed for the next chunk)."""
        swap_data(self.pparams, self.buffers.backup)
        self.buffers.backup = None

    @torch.no_grad()
    def _end_chunk(self, weight: float, final: bool) -> None:
        self._swap_back()
        saved, self.buffers.gsam = self.buffers.gsam, None
        if self.gsam is not None and saved is not None:  # the final gradient is written into s's tensors
            g_adv = grads_of(self.pparams)
            self.gsam.apply_(g_adv, saved)
            set_grads(self.pparams, saved)
            if saved is self.buffers.saved:  # the perturbed gradient's tensors are free: the next copy goes there
                self.buffers.saved = g_adv
        if weight == 1.0:  # one chunk, one micro-batch: p.grad is the final gradient
            return
        grads = owned_grads(self.params)
        acc = self.buffers.accum
        if acc is None:  # the first part's tensors become the accumulator
            if final:
                torch._foreach_mul_(grads, weight)
                return
            torch._foreach_mul_(grads, weight)
            self.buffers.accum = grads
        elif final:
            torch._foreach_mul_(grads, weight)
            torch._foreach_add_(grads, acc)
            self.buffers.accum = None
            return
        else:
            torch._foreach_add_(acc, grads, alpha=weight)
        release_grads(self.params)

    def _final_gradients(self) -> list[Tensor]:
        acc = self.buffers.accum
        if acc is not None:  # step() before accum_steps micro-batches: use what was accumulated
            set_grads(self.params, acc)
            self.buffers.accum = None
        self._micro = 0
        return super()._final_gradients()

    def _wrapper_state(self) -> dict:
        state = super()._wrapper_state()
        describe = getattr(self.rho_schedule, "describe", None)
        state.update(
            {
                "perturbation_batch_size": self.perturbation_batch_size,
                "rho_schedule": describe() if describe else None,
                "ascent": {**self.ascent.describe(), "state": self.ascent.state_dict()},
                "adaptive": self.adaptive.describe() if self.adaptive else None,
                "gsam": self.gsam.describe() if self.gsam else None,
            }
        )
        return state

    def _load_wrapper_state(self, state: dict) -> None:
        super()._load_wrapper_state(state)
        ascent = state.get("ascent")
        if ascent is not None:
            if ascent.get("name") != self.ascent.name:
                raise ValueError(
                    f"state_dict is for ascent {ascent.get('name')!r}, this optimizer uses {self.ascent.name!r}"
                )
            self.ascent.load_state_dict(ascent.get("state", {}))


def _mean(values: list[Tensor]) -> Tensor:
    """Mean of per-chunk 0-dim tensors (float64), kept on the device."""
    return values[0] if len(values) == 1 else torch.stack(values).double().mean()
