"""SAM trains at least as well as SGD: digits (scikit-learn's bundled 8×8 images) with 25% of the
training labels flipped at random, a small MLP, the same budget. SGD memorises the noisy labels; SAM
resists them (Foret et al. 2021 report the same robustness), so its held-out loss is lower."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn

from samlab.optim import create_optimizer


def data():
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(y), generator=g)
    train, test = perm[:1000], perm[1000:]
    noisy = y[train].clone()
    flip = torch.rand(len(train), generator=g) < 0.25
    noisy[flip] = torch.randint(0, 10, (int(flip.sum()),), generator=g)
    return X[train], noisy, X[test], y[test]


def train(name, Xtr, ytr, **cfg):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = create_optimizer(name, model, lr=0.1, momentum=0.9, **cfg)
    g = torch.Generator().manual_seed(1)
    for _ in range(40):  # epochs of 8 batches of 125
        for idx in torch.randperm(len(ytr), generator=g).split(125):
            opt.forward_backward(model, Xtr[idx], ytr[idx], nn.functional.cross_entropy)
            opt.step()
    return model


def test_sam_trains_at_least_as_well_as_sgd_under_label_noise():
    Xtr, ytr, Xte, yte = data()
    results = {}
    for name, cfg in (("sgd", {}), ("sam", {"rho": 0.1})):
        model = train(name, Xtr, ytr, **cfg)
        with torch.no_grad():
            logits = model(Xte)
            results[name] = (
                float(nn.functional.cross_entropy(logits, yte)),
                float((logits.argmax(1) == yte).float().mean()),
            )
    assert results["sam"][1] > 0.85 and results["sgd"][1] > 0.8, results
    assert results["sam"][0] < results["sgd"][0], results  # lower held-out loss
    assert results["sam"][1] >= results["sgd"][1] - 0.01, results
