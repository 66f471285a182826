"""The two-feature toy set of paper 2 (docs/science.md §10, constants *proposed*): an easy linear feature and a
hard spiral feature, both predictive of a balanced binary label in training.

x = [x_easy; x_hard]; x_easy = (2y−1)·μ + σ_e·noise (``easy_dim`` dims, linearly separable);
x_hard = t·(cos θ, sin θ) + σ_h·noise with t ~ U(0, 1), θ = 2πkt + πy (k = ``turns``, the complexity knob).
Probe splits ``hard_only_*``/``easy_only_*`` keep one feature on the label and draw the other from an
independent random label, so a probe on a frozen representation can tell which feature it encodes.
The columns of each part are in ``extra["parts"]`` (``{"easy": {"dims": [...]}, "hard": {"dims": [...]}}``).
"""

from __future__ import annotations

import math

import torch

from samlab.data.prepared import PreparedData

TWO_FEATURE_SPLITS = ("train", "val", "test", "hard_only_train", "hard_only_test", "easy_only_train", "easy_only_test")


def easy_feature(y: torch.Tensor, mu: float, sigma: float, dim: int, gen: torch.Generator) -> torch.Tensor:
    return (2 * y.float() - 1).unsqueeze(1) * mu + sigma * torch.randn(len(y), dim, generator=gen)


def spiral_feature(y: torch.Tensor, turns: float, sigma: float, gen: torch.Generator) -> torch.Tensor:
    t = torch.rand(len(y), generator=gen)
    theta = 2 * math.pi * turns * t + math.pi * y.float()
    x = torch.stack([t * torch.cos(theta), t * torch.sin(theta)], dim=1)
    return x + sigma * torch.randn(len(y), 2, generator=gen)


def two_feature_labels(n: int, mode: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(label, label the easy part shows, label the hard part shows) for ``aligned``/``hard_only``/``easy_only``.

    The label is balanced (a shuffled half/half); the decorrelated part gets an independent random label.
    """
    y = torch.arange(n) % 2
    y = y[torch.randperm(n, generator=gen)]
    other = torch.randint(0, 2, (n,), generator=gen)
    if mode == "aligned":
        return y, y, y
    if mode == "hard_only":
        return y, other, y
    if mode == "easy_only":
        return y, y, other
    raise ValueError(f"unknown mode {mode!r}")


def prepare_toy(
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 1000,
    turns: float = 2.0,
    easy_margin: float = 1.0,
    easy_noise: float = 0.25,
    hard_noise: float = 0.02,
    easy_dim: int = 1,
    seed: int = 0,
) -> PreparedData:
    """Float32 features (N, easy_dim + 2): columns ``[0, easy_dim)`` easy, the last two the spiral."""
    if min(n_train, n_val, n_test) < 2 or turns <= 0 or easy_dim < 1:
        raise ValueError(
            f"need n_* >= 2, turns > 0 and easy_dim >= 1; got {n_train}, {n_val}, {n_test}, {turns}, {easy_dim}"
        )
    gen = torch.Generator().manual_seed(seed)
    sizes = {
        "train": n_train,
        "val": n_val,
        "test": n_test,
        "hard_only_train": n_train,
        "hard_only_test": n_test,
        "easy_only_train": n_train,
        "easy_only_test": n_test,
    }
    splits = {}
    for split in TWO_FEATURE_SPLITS:
        mode = "aligned" if split in ("train", "val", "test") else split.rsplit("_", 1)[0]
        y, y_easy, y_hard = two_feature_labels(sizes[split], mode, gen)
        x = torch.cat(
            [
                easy_feature(y_easy, easy_margin, easy_noise, easy_dim, gen),
                spiral_feature(y_hard, turns, hard_noise, gen),
            ],
            dim=1,
        )
        splits[split] = (x.float().contiguous(), y.long())
    d = easy_dim + 2
    extra = {
        "easy_dims": list(range(easy_dim)),
        "hard_dims": [easy_dim, easy_dim + 1],
        "parts": {"easy": {"dims": list(range(easy_dim))}, "hard": {"dims": [easy_dim, easy_dim + 1]}},
        "turns": turns,
        "easy_margin": easy_margin,
        "easy_noise": easy_noise,
        "hard_noise": hard_noise,
    }
    return PreparedData("toy", splits, (0.0,) * d, (1.0,) * d, ["0", "1"], extra)
