"""Linear probes on frozen features (paper 2's measure of feature quality; the transfer stage's probe).

Features are timm's pre-logits: ``model.forward_head(model.forward_features(x), pre_logits=True)``. The head
is scikit-learn's logistic regression on standardised features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn


@torch.inference_mode()
def extract_features(model: nn.Module, images: Tensor, normalise: Callable[[Tensor], Tensor], batch_size: int = 512,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """Pre-logit features of uint8 images, in eval mode, as a float32 numpy array (N, D)."""
    if not hasattr(model, "forward_features") or not hasattr(model, "forward_head"):
        raise TypeError(f"{type(model).__name__} has no forward_features/forward_head: not a timm-style model")
    was_training = model.training
    model.eval().to(device)
    try:
        feats = [model.forward_head(model.forward_features(normalise(x.to(device))), pre_logits=True).flatten(1).float().cpu()
                 for x in images.split(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(feats).numpy()


def fit_probe(features: np.ndarray, labels: np.ndarray, C: float = 1.0, max_iter: int = 1000, seed: int = 0):
    """Standardise, then multinomial logistic regression (L2, strength 1/C)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    return probe.fit(features, labels)


def linear_probe(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
                 test_labels: np.ndarray, C: float = 1.0, max_iter: int = 1000, seed: int = 0) -> float:
    """Test accuracy of a logistic-regression probe fitted on the train features."""
    probe = fit_probe(train_features, np.asarray(train_labels), C, max_iter, seed)
    return float((probe.predict(test_features) == np.asarray(test_labels)).mean())


def cross_validated_probe(features: np.ndarray, labels: np.ndarray, folds: int = 2, C: float = 1.0,
                          max_iter: int = 1000, seed: int = 0) -> float:
    """Mean held-out accuracy of the probe over stratified folds of one labelled set (e.g. a ``*_only_test`` set)."""
    labels = np.asarray(labels)
    scores = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        scores.append(linear_probe(features[train], labels[train], features[test], labels[test], C, max_iter, seed))
    return float(np.mean(scores))
