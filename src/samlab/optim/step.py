"""``GradientStep``: the plain step — one forward-backward per micro-batch, then the base optimizer.

Why a wrapper with ``forward_backward``/``step`` instead of a closure: the SAM family (``sam.py``) needs
the model, the batch and the loss; the plain step has the same interface so the training loop treats
every variant alike. Gradient accumulation is several ``forward_backward(..., accum_steps=k)`` before
one ``step``. Gradients are whatever autograd hands over in ``p.grad`` (``step`` sets them to None).

The wrapper *is* the optimizer LR schedulers see: it shares ``param_groups``/``state`` with the base
optimizer. DDP and fp16: ``ddp_amp.py``. Shrink-and-perturb (``shrink_perturb``): before every update,
w ← (1 − f)·w + f·w₀ with f = factor·lr/lr₀, for the parameters and the floating-point buffers given as
``shrink_buffers`` (BatchNorm statistics), as the official train.py does (docs/optimizers.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from samlab.optim._ops import grads_of, release_grads
from samlab.optim.ddp_amp import LossScaling, all_reduce_mean, autocast_ctx, no_sync
from samlab.optim.stats import StepStats

LossFn = Callable[[Tensor, Tensor], Tensor]


class GradientStep(torch.optim.Optimizer):
    """Plain step around ``base_optimizer``; ``max_grad_norm`` clips the final (accumulated,
    rank-averaged) gradient once per update; ``grad_scaler`` for fp16; ``shrink_perturb`` factor."""

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer,
        max_grad_norm: float | None = None,
        grad_scaler: torch.amp.GradScaler | None = None,
        process_group: Any = None,
        shrink_perturb: float | None = None,
        shrink_buffers: list[Tensor] | None = None,
    ):
        if not isinstance(base_optimizer, torch.optim.Optimizer):
            raise TypeError(f"base_optimizer must be a torch.optim.Optimizer, got {type(base_optimizer)!r}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {max_grad_norm}")
        if shrink_perturb is not None and not 0.0 <= float(shrink_perturb) <= 1.0:
            raise ValueError(f"shrink_perturb must be in [0, 1] (0 = off, 1 = reset to init), got {shrink_perturb}")
        super().__init__(base_optimizer.param_groups, base_optimizer.defaults)
        # Share (not copy) the base optimizer's groups and state: schedulers that edit one edit both.
        self.param_groups = base_optimizer.param_groups
        self.state = base_optimizer.state
        self.base_optimizer = base_optimizer
        self.max_grad_norm = max_grad_norm
        self.process_group = process_group
        self.scaling = LossScaling(grad_scaler) if grad_scaler is not None and grad_scaler.is_enabled() else None
        self.params: list[Tensor] = [p for g in self.param_groups for p in g["params"] if p.requires_grad]
        if not self.params:
            raise ValueError("the base optimizer has no trainable parameters")
        self.shrink_perturb = float(shrink_perturb) if shrink_perturb else None
        self._shrunk: list[Tensor] = []  # what shrink-and-perturb pulls: parameters + floating buffers
        self._init: list[Tensor] | None = None  # their initial values
        self._lr0 = float(self.param_groups[0].get("initial_lr", self.param_groups[0]["lr"]))
        if self.shrink_perturb:
            self._shrunk = [p.detach() for p in self.params] + [
                b for b in shrink_buffers or [] if b.is_floating_point()
            ]
            self._init = [t.clone() for t in self._shrunk]
        self._micro = 0  # micro-batches seen in the current update

    @property
    def grad_scaler(self) -> torch.amp.GradScaler | None:
        return self.scaling.scaler if self.scaling is not None else None

    @property
    def grads(self) -> list[Tensor]:
        """The current gradients (zeros where none): what ``step`` will apply."""
        return grads_of(self.params)

    @property
    def lr(self) -> float:
        return float(self.param_groups[0]["lr"])

    @property
    def last_step_skipped(self) -> bool:
        """fp16: the last update was skipped (read lazily: one host read when asked)."""
        return self.scaling.last_step_skipped if self.scaling is not None else False

    def _scale(self, loss: Tensor) -> Tensor:
        return self.scaling.scale(loss) if self.scaling is not None else loss

    @torch.no_grad()
    def _begin_update(self) -> None:
        """Once per update, before its first forward: shrink-and-perturb toward w₀."""
        if self._init is not None:
            f = self.shrink_perturb * self.lr / self._lr0
            torch._foreach_lerp_(self._shrunk, self._init, f)

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
        """Forward, loss, backward of ``loss / accum_steps`` (autograd adds micro-batches up in ``p.grad``).
        ``return_outputs``/``return_perturbation`` are accepted for a uniform interface (no perturbation)."""
        if accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {accum_steps}")
        if self._micro == 0:
            self._begin_update()
        self._micro += 1
        with no_sync(model):
            with autocast_ctx(inputs.device, autocast):
                logits = model(inputs)
                loss = loss_fn(logits, targets)
            self._scale(loss / accum_steps).backward()
        return StepStats(loss=loss.detach(), logits=logits.detach())

    # -- one update ------------------------------------------------------------------------------
    def _final_gradients(self) -> list[Tensor]:
        """Hook for subclasses: make ``p.grad`` hold the final local gradient; returns the gradients."""
        return [p.grad for p in self.params if p.grad is not None]

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ARG002 - closures do not fit the two-pass step
        """Average over DDP ranks (once), unscale (fp16), clip once, base step, release the gradients."""
        grads = self._final_gradients()
        if self.scaling is not None:  # an overflowed pass on any rank must skip the update on every rank
            self.scaling.poison_(grads)
        all_reduce_mean(grads, self.process_group)
        if self.scaling is not None and self.max_grad_norm is not None:
            self.scaling.scaler.unscale_(self.base_optimizer)  # clip the true gradient
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm, foreach=True)
        if self.scaling is not None:
            self.scaling.step(self.base_optimizer)
        else:
            self.base_optimizer.step()
        self._micro = 0
        self.zero_grad()

    def zero_grad(self, set_to_none: bool = True) -> None:  # noqa: ARG002 - always released
        release_grads(self.params)

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"base": self.base_optimizer.state_dict(), "wrapper": self._wrapper_state()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.base_optimizer.load_state_dict(state_dict["base"])
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self._load_wrapper_state(state_dict.get("wrapper", {}))

    def _wrapper_state(self) -> dict:
        state: dict[str, Any] = {"grad_scaler": self.scaling.state_dict()} if self.scaling is not None else {}
        if self._init is not None:
            state["shrink_perturb"] = {"init": [t.clone() for t in self._init], "lr0": self._lr0}
        return state

    def _load_wrapper_state(self, state: dict) -> None:
        if self.scaling is not None and state.get("grad_scaler"):
            self.scaling.load_state_dict(state["grad_scaler"])
        snp = state.get("shrink_perturb")
        if snp is not None and self._init is not None:
            torch._foreach_copy_(self._init, list(snp["init"]))
            self._lr0 = float(snp["lr0"])

    def extra_buffers(self) -> int:
        """Parameter-sized buffers held beyond the base optimizer's (gradients not counted)."""
        return 1 if self._init is not None else 0
