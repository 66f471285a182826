"""Least-squares and linear-softmax problems whose gradients are known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out.squeeze(1) - y) ** 2).mean()


def grad_ls(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L = mean((Xw - y)^2)  =>  dL/dw = 2/n X^T (Xw - y)."""
    return 2.0 / X.shape[0] * X.T @ (X @ w - y)


def linear_model(w: torch.Tensor) -> nn.Linear:
    model = nn.Linear(w.numel(), 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w.view(1, -1))
    return model


def weights(model: nn.Module) -> torch.Tensor:
    return model.weight.detach().view(-1).clone()


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(8, 3, generator=g, dtype=torch.float64)
    y = torch.randn(8, generator=g, dtype=torch.float64)
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    return X, y, w


@pytest.fixture
def classification():
    """z = X Wᵀ + b with C = 4 classes; CE loss."""
    g = torch.Generator().manual_seed(1)
    X = torch.randn(8, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (8,), generator=g)
    W = torch.randn(4, 3, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    return X, y, W, b


def softmax_linear(W: torch.Tensor, b: torch.Tensor) -> nn.Linear:
    model = nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        model.weight.copy_(W)
        model.bias.copy_(b)
    return model


def ce_grads(W, b, X, y):
    """CE(softmax(XWᵀ+b), y) mean over the batch  =>  dz = (softmax − onehot)/N."""
    z = X @ W.T + b
    dz = (torch.softmax(z, 1) - nn.functional.one_hot(y, W.shape[0]).double()) / X.shape[0]
    return dz.T @ X, dz.sum(0)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every optimizer test runs on one intra-op thread (``tests/conftest.py``)."""
