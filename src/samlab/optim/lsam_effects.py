"""LSAM and its two isolated effects as optimizers (paper 2; docs/science.md §10).

LSAM perturbs only the last layer, ṽ = v + ρ∇_vL/‖∇_vL‖. ``lsam_surrogate`` builds the loss whose gradient
is LSAM's (``full``) or one of its two isolated effects: ``importance`` (phantom importance weights λ̃ from ṽ,
gradients through the real v) and ``lr_scaling`` (real λ, backprop through ṽ). ``create_optimizer`` builds
them (``LSAMEffect``) as ``lsam_importance`` and ``lsam_lr_scaling``; the feature-balance analysis
(``samlab.analysis.feature_balance``) measures what they change. They live here, not in the analysis, so
that the optimizers never import the analysis (the analysis imports the optimizers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samlab.optim._ops import EPS, global_norm
from samlab.optim.ddp_amp import autocast_ctx
from samlab.optim.stats import StepStats
from samlab.optim.step import GradientStep, LossFn

LSAM_MODES = ("full", "importance", "lr_scaling")


def lsam_surrogate(
    model: nn.Module, inputs: Tensor, targets: Tensor, rho: float, mode: str = "full", return_logits: bool = False
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """A loss whose gradient (w.r.t. all parameters, at the real w) is LSAM's or one of its effects (CE loss).

    With z = v·φ (real head) and z̃ = ṽ·φ (head at ṽ, ṽ − v detached), softmax p, p̃ and one-hot Y:
    ``full``: CE(z̃, y) — LSAM's gradient; ``importance``: mean_i Σ_k (p̃ − Y)_ik z_ik (phantom importance
    weights, real backprop); ``lr_scaling``: mean_i Σ_k (p − Y)_ik z̃_ik (real weights, backprop through ṽ).
    The model must be timm-style: ``forward_features``, ``forward_head(pre_logits=True)``, a linear classifier.
    """
    if mode not in LSAM_MODES:
        raise ValueError(f"unknown LSAM mode {mode!r}; known: {list(LSAM_MODES)}")
    head = model.get_classifier()
    if not isinstance(head, nn.Linear):
        raise ValueError(f"LSAM needs a linear classifier, got {type(head).__name__}")
    phi = model.forward_head(model.forward_features(inputs), pre_logits=True)
    z = head(phi)
    grads = torch.autograd.grad(F.cross_entropy(z, targets), [p for p in head.parameters()], retain_graph=True)
    scale = rho / (float(global_norm(list(grads))) + EPS)
    weight = head.weight + scale * grads[0]
    bias = head.bias + scale * grads[1] if head.bias is not None else None
    z_tilde = F.linear(phi, weight, bias)
    onehot = F.one_hot(targets, z.shape[1]).to(z.dtype)
    if mode == "full":
        out = F.cross_entropy(z_tilde, targets)
    elif mode == "importance":
        out = ((z_tilde.detach().softmax(1) - onehot) * z).sum(1).mean()
    else:
        out = ((z.detach().softmax(1) - onehot) * z_tilde).sum(1).mean()
    return (out, z.detach(), z_tilde.detach()) if return_logits else out


class LSAMEffect(GradientStep):
    """LSAM (``full``) or one of its isolated effects as an optimizer: registered as ``lsam_importance`` and
    ``lsam_lr_scaling`` in ``samlab.optim.create_optimizer``. Cross-entropy models only (the surrogates
    are CE's logit gradient); one pass per micro-batch plus a head-only gradient."""

    def __init__(
        self,
        base_optimizer: torch.optim.Optimizer,
        rho: float = 0.05,
        mode: str = "importance",
        max_grad_norm: float | None = None,
    ):
        super().__init__(base_optimizer, max_grad_norm=max_grad_norm)
        if mode not in LSAM_MODES or rho < 0:
            raise ValueError(f"need mode in {list(LSAM_MODES)} and rho >= 0, got {mode!r}, {rho}")
        self.rho, self.mode = float(rho), mode

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
        """One pass plus the head-only gradient; statistics stay on the device (``StepStats`` reads lazily).
        ``return_perturbation`` is accepted for the uniform interface (the head perturbation is not returned)."""
        with autocast_ctx(inputs.device, autocast):
            surrogate, z, z_tilde = lsam_surrogate(model, inputs, targets, self.rho, self.mode, return_logits=True)
        (surrogate / accum_steps).backward()
        return StepStats(
            loss=loss_fn(z, targets).detach(),
            logits=z,
            perturbed_loss=loss_fn(z_tilde, targets).detach(),
            rho=self.rho,
            perturbed_logits=z_tilde if return_outputs else None,
        )


def create_lsam_effect(
    model: nn.Module, mode: str, base: str = "sgd", rho: float = 0.05, max_grad_norm: float | None = None, **cfg
) -> LSAMEffect:
    """``mode``'s optimizer on the base optimizer ``base`` (its settings in ``cfg``)."""
    from samlab.optim.base import create_base_optimizer

    return LSAMEffect(create_base_optimizer(base, model, **cfg), rho=rho, mode=mode, max_grad_norm=max_grad_norm)
