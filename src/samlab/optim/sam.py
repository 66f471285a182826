"""The SAM-family step around any base optimizer.

Why a wrapper with ``forward_backward``/``step`` instead of a closure: the SAM step needs the model,
the batch and the loss (chunks of m samples for m-sharpness, an ascent loss on the outputs for OBF,
BatchNorm freezing between the two passes). ``forward_backward`` leaves the final gradient in
``p.grad``; ``step`` applies the base optimizer once per update, so gradient accumulation is just
several ``forward_backward`` calls before one ``step``.

All per-parameter maths is ``torch._foreach_*`` over preallocated buffers (the backup of w).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from samlab.optim.schedules import RhoSchedule, constant_rho

LossFn = Callable[[Tensor, Tensor], Tensor]
EPS = 1e-12


@dataclass
class StepStats:
    """What one ``forward_backward`` saw: the analysis hooks read these."""

    loss: float  # clean training loss (mean over the micro-batch)
    logits: Tensor  # clean outputs, detached (for accuracy)
    perturbed_loss: float | None = None  # training loss at w + e
    perturbation_norm: float | None = None  # ‖e‖, global L2
    rho: float | None = None
    perturbed_logits: Tensor | None = None  # outputs at w + e, when asked for


class GradientStep(torch.optim.Optimizer):
    """Plain step: one forward-backward per micro-batch, then the base optimizer.

    Shares ``param_groups`` and ``state`` with the base optimizer, so LR schedulers and
    ``state_dict`` work as for the base optimizer itself.
    """

    def __init__(self, base_optimizer: torch.optim.Optimizer, max_grad_norm: float | None = None):
        if not isinstance(base_optimizer, torch.optim.Optimizer):
            raise TypeError(f"base_optimizer must be a torch.optim.Optimizer, got {type(base_optimizer)!r}")
        if max_grad_norm is not None and max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {max_grad_norm}")
        self.base_optimizer = base_optimizer
        self.max_grad_norm = max_grad_norm
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
        for p in self.params:  # preallocate: backward accumulates into these, foreach ops never see None
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        self.grads: list[Tensor] = [p.grad for p in self.params]

    # -- one micro-batch -------------------------------------------------------------------------
    def forward_backward(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: LossFn, accum_steps: int = 1,
        return_outputs: bool = False,
    ) -> StepStats:
        logits = model(inputs)
        loss = loss_fn(logits, targets)
        (loss / accum_steps).backward()
        return StepStats(loss=float(loss.detach()), logits=logits.detach())

    # -- one update ------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):  # noqa: ARG002 - closures do not fit the two-pass step
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm, foreach=True)
        self.base_optimizer.step()
        self.zero_grad()

    def zero_grad(self, set_to_none: bool = False) -> None:  # noqa: ARG002 - buffers stay allocated
        # The base optimizer may have replaced a .grad (e.g. zero_grad(set_to_none=True) elsewhere).
        for i, p in enumerate(self.params):
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            self.grads[i] = p.grad
        torch._foreach_zero_(self.grads)

    def state_dict(self) -> dict:
        return {"base": self.base_optimizer.state_dict(), "wrapper": self._wrapper_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.base_optimizer.load_state_dict(state_dict["base"])
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self._load_wrapper_state(state_dict.get("wrapper", {}))

    def _wrapper_state(self) -> dict:
        return {}

    def _load_wrapper_state(self, state: dict) -> None:
        pass

    @property
    def lr(self) -> float:
        return float(self.param_groups[0]["lr"])


@contextmanager
def frozen_batchnorm_stats(model: nn.Module):
    """Keep BatchNorm running statistics fixed (momentum 0) while still normalising with batch stats."""
    saved = []
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
            saved.append((mod, mod.momentum, mod.num_batches_tracked.clone() if mod.num_batches_tracked is not None else None))
            mod.momentum = 0.0
    try:
        yield
    finally:
        for mod, momentum, tracked in saved:
            mod.momentum = momentum
            if tracked is not None:
                mod.num_batches_tracked.copy_(tracked)


def _no_sync(model: nn.Module):
    """Both SAM passes run without DDP gradient sync: each rank perturbs with its own gradient."""
    return model.no_sync() if hasattr(model, "no_sync") else nullcontext()


class SAM(GradientStep):
    """Sharpness-Aware Minimization (Foret et al. 2021) with m-sharpness, as ``../shared/science.md`` §1.

    For every chunk of ``m`` samples: ascent pass → e = ρ·g/(‖g‖+ε) → perturbed pass at w+e →
    restore w by copy. The chunk gradients are averaged; the base optimizer steps once per update.
    """

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer,
        rho: float | RhoSchedule = 0.05,
        perturbation_batch_size: int | None = None,
        max_grad_norm: float | None = None,
    ):
        super().__init__(base_optimizer, max_grad_norm=max_grad_norm)
        self.rho_schedule = constant_rho(rho) if isinstance(rho, (int, float)) else rho
        if perturbation_batch_size is not None and perturbation_batch_size < 1:
            raise ValueError(f"perturbation_batch_size must be >= 1, got {perturbation_batch_size}")
        self.perturbation_batch_size = perturbation_batch_size
        self.backup: list[Tensor] = [torch.empty_like(p) for p in self.params]
        self._accum: list[Tensor] | None = None  # allocated only for several chunks/micro-batches
        self._pending = False

    @property
    def rho(self) -> float:
        return self.rho_schedule(self.lr)

    def _chunks(self, inputs: Tensor, targets: Tensor) -> list[tuple[Tensor, Tensor]]:
        n = inputs.shape[0]
        m = self.perturbation_batch_size or n
        if n % m:
            raise ValueError(f"perturbation_batch_size m={m} must divide the batch size {n}")
        return list(zip(inputs.split(m), targets.split(m)))

    def ascent_loss(self, logits: Tensor, targets: Tensor, loss: Tensor) -> Tensor:
        """The loss whose gradient picks the perturbation direction (SAM: the training loss)."""
        return loss

    def forward_backward(
        self, model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: LossFn, accum_steps: int = 1,
        return_outputs: bool = False,
    ) -> StepStats:
        chunks = self._chunks(inputs, targets)
        weight = 1.0 / (len(chunks) * accum_steps)
        several = len(chunks) * accum_steps > 1
        if several and self._accum is None:
            self._accum = [torch.zeros_like(p) for p in self.params]
        rho = self.rho
        losses, plosses, norms, logits_all, plogits_all = [], [], [], [], []
        with _no_sync(model):
            for x, y in chunks:
                torch._foreach_zero_(self.grads)
                torch._foreach_copy_(self.backup, self.params)
                logits = model(x)
                loss = loss_fn(logits, y)
                self.ascent_loss(logits, y, loss).backward()
                with torch.no_grad():
                    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(self.grads)))
                    torch._foreach_mul_(self.grads, rho / (norm + EPS))
                    torch._foreach_add_(self.params, self.grads)
                    torch._foreach_zero_(self.grads)
                with frozen_batchnorm_stats(model):
                    plogits = model(x)
                    ploss = loss_fn(plogits, y)
                    ploss.backward()
                with torch.no_grad():
                    torch._foreach_copy_(self.params, self.backup)
                    if several:
                        torch._foreach_add_(self._accum, self.grads, alpha=weight)
                losses.append(loss.detach())
                plosses.append(ploss.detach())
                norms.append(norm * rho / (norm + EPS))
                logits_all.append(logits.detach())
                if return_outputs:
                    plogits_all.append(plogits.detach())
        self._pending = several
        return StepStats(
            loss=float(torch.stack(losses).mean()),
            logits=torch.cat(logits_all),
            perturbed_loss=float(torch.stack(plosses).mean()),
            perturbation_norm=float(torch.stack(norms).mean()),
            rho=rho,
            perturbed_logits=torch.cat(plogits_all) if return_outputs else None,
        )

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ARG002
        if self._pending:
            torch._foreach_copy_(self.grads, self._accum)
            torch._foreach_zero_(self._accum)
            self._pending = False
        super().step()

    def _wrapper_state(self) -> dict:
        return {"perturbation_batch_size": self.perturbation_batch_size}
