"""Ascent directions by name: what the perturbation e climbs (docs/science.md §1, §4, §5).

An ascent direction either gives a scalar **ascent loss** P of the clean outputs whose gradient is the
direction (``loss``: SAM, P = training loss; ``obf``: the OBF surrogate S), or fills the gradient
buffers directly without a backward pass (``random``: RandSAM). The wrapper normalises the direction
to radius ρ afterwards (with ASAM scaling if configured); nothing here knows about ρ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


class Ascent:
    """Base class. ``needs_backward`` False ⇒ the clean pass runs under ``no_grad`` and ``fill_`` is used."""

    name = "base"
    needs_backward = True

    def loss(self, logits: Tensor, targets: Tensor, train_loss: Tensor) -> Tensor:
        raise NotImplementedError

    def fill_(self, flat_grads: list[Tensor]) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class LossAscent(Ascent):
    """SAM: climb the training loss itself."""

    name = "loss"

    def loss(self, logits: Tensor, targets: Tensor, train_loss: Tensor) -> Tensor:
        return train_loss


def _onehot(targets: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    if targets.ndim == 2:  # already one-hot / soft labels
        return targets.to(dtype)
    return torch.nn.functional.one_hot(targets.long(), num_classes).to(dtype)


class OBFAscent(Ascent):
    """Output-bias forgetting (paper 1, docs/science.md §4), as the surrogate S = mean_i Σ_k (u_k − t_ik)·z_ik.

    t = α·p + (1 − α)·onehot(y) with α_i = γ·max(0, (1 − λ/p_{i,y_i})/(1 − λ)), all detached, so
    ∂S/∂z = (u − t)/N = ∂OBF/∂z: maximising S climbs OBF = (1 − α)·CE(p, y) − CE(p, u). S's value is
    not meaningful. ``predictions``: ``sigmoid`` (the reference code's default, even for softmax-CE
    models) or ``softmax``. ``lam=None`` means λ = 1/C with C read from the logits.
    """

    name = "obf"

    def __init__(self, gamma: float = 1.0, lam: float | None = None, predictions: str = "sigmoid"):
        if not 0.0 <= float(gamma) <= 1.0:
            raise ValueError(f"OBF gamma must be in [0, 1], got {gamma}")
        if lam is not None and not 0.0 <= float(lam) < 1.0:
            raise ValueError(f"OBF lam (λ) must be in [0, 1) (λ = 1 divides by zero), got {lam}")
        if predictions not in ("sigmoid", "softmax"):
            raise ValueError(f"OBF predictions must be 'sigmoid' or 'softmax', got {predictions!r}")
        self.gamma = float(gamma)
        self.lam = None if lam is None else float(lam)
        self.predictions = predictions

    def targets(self, logits: Tensor, targets: Tensor) -> Tensor:
        """t (detached): what the outputs are pulled away from."""
        z = logits.detach()
        if z.dtype in (torch.float16, torch.bfloat16):  # predictions in fp32 under autocast
            z = z.float()
        num_classes = z.shape[1]
        lam = 1.0 / num_classes if self.lam is None else self.lam
        p = torch.sigmoid(z) if self.predictions == "sigmoid" else torch.softmax(z, dim=1)
        if targets.ndim == 2:  # soft labels
            y = _onehot(targets, num_classes, p.dtype)
            p_y = (p * y).sum(1, keepdim=True)
        else:  # class indices: gather/scatter instead of a one-hot (same values, fewer kernels)
            idx = targets.long().unsqueeze(1)
            p_y = p.gather(1, idx)
        alpha = self.gamma * torch.clamp((1.0 - lam / p_y.clamp_min(1e-30)) / (1.0 - lam), min=0.0)
        if targets.ndim == 2:
            return alpha * p + (1.0 - alpha) * y
        return (alpha * p).scatter_add_(1, idx, 1.0 - alpha)

    def loss(self, logits: Tensor, targets: Tensor, train_loss: Tensor) -> Tensor:
        """S with ∂S/∂z = (u − t)/N: one product, one sum (its backward is one scaled copy of u − t)."""
        c = (1.0 / logits.shape[1] - self.targets(logits, targets)).to(logits.dtype)
        return (c * logits).sum() / logits.shape[0]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "gamma": self.gamma, "lam": self.lam, "predictions": self.predictions}


class RandomAscent(Ascent):
    """RandSAM: Gaussian noise per parameter (normalised globally to ρ by the wrapper).

    Draws from its own generator per device (seeded by ``seed``), whose state is part of the optimizer's
    ``state_dict`` so resuming reproduces the same perturbations.
    """

    name = "random"
    needs_backward = False

    def __init__(self, seed: int = 0):
        self.seed = int(seed)
        self._generators: dict[str, torch.Generator] = {}
        self._pending_state: dict[str, Tensor] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            if key in self._pending_state:
                gen.set_state(self._pending_state.pop(key))
            self._generators[key] = gen
        return self._generators[key]

    def fill_(self, flat_grads: list[Tensor]) -> None:
        for flat in flat_grads:  # one call per (device, dtype) buffer, not per parameter
            flat.normal_(generator=self._generator(flat.device))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed}

    def state_dict(self) -> dict[str, Any]:
        states = {k: g.get_state() for k, g in self._generators.items()}
        return {"generators": {**self._pending_state, **states}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._generators.clear()
        self._pending_state = dict(state.get("generators", {}))


ASCENTS: dict[str, Callable[..., Ascent]] = {"loss": LossAscent, "obf": OBFAscent, "random": RandomAscent}


def create_ascent(name: str, **cfg: Any) -> Ascent:
    """Ascent direction ``name`` (``loss``, ``obf``, ``random``) with its options."""
    if name not in ASCENTS:
        raise ValueError(f"unknown ascent direction {name!r}; known: {sorted(ASCENTS)}")
    try:
        return ASCENTS[name](**cfg)
    except TypeError as err:
        raise ValueError(f"bad options for ascent {name!r}: {err}") from None
