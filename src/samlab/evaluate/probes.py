"""Linear probes on frozen features — the one probe module (paper 2's feature-quality measure, the robustness
stage's per-set probe, the transfer stage's linear probe).

Features are timm's pre-logits, ``model.forward_head(model.forward_features(x), pre_logits=True)``, in eval
mode, as float64. The probe is scikit-learn's L2 logistic regression on standardised features; its strength
is ``C`` everywhere (scikit-learn's spelling, also in every YAML file).

``probe_table`` (per feature with ``{F}_only_train``/``{F}_only_test`` splits: only feature F carries the label
there, the other drawn with an independent label) has columns
``feature, train_split, test_split, accuracy, error, n_train, n_test``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

PROBE_COLUMNS = ["feature", "train_split", "test_split", "accuracy", "error", "n_train", "n_test"]


@torch.inference_mode()
def extract_features(
    model: nn.Module,
    images: Tensor,
    normalise: Callable[[Tensor], Tensor],
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Pre-logit features (N, D) of (uint8) images, eval mode, as float64 numpy; the model's mode is restored.

    ``device``: where to run (the model is moved there); None keeps the model where it is."""
    if not hasattr(model, "forward_features") or not hasattr(model, "forward_head"):
        raise TypeError(f"{type(model).__name__} has no forward_features/forward_head: not a timm-style model")
    was_training = model.training
    model.eval()
    if device is not None:
        model.to(device)
    target = device if device is not None else next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        feats = [
            model.forward_head(model.forward_features(normalise(x.to(target))), pre_logits=True)
            .flatten(1)
            .double()
            .cpu()
            for x in images.split(batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(feats).numpy()


def fit_probe(features: np.ndarray, labels: np.ndarray, C: float = 1.0, max_iter: int = 1000, seed: int = 0):
    """Standardise, then (multinomial) logistic regression with L2 strength 1/C."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("a probe needs at least two classes in its training split")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    return probe.fit(features, labels)


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> float:
    """Test accuracy of a logistic-regression probe fitted on the train features."""
    probe = fit_probe(train_features, train_labels, C, max_iter, seed)
    return float((probe.predict(test_features) == np.asarray(test_labels)).mean())


def cross_validated_probe(
    features: np.ndarray, labels: np.ndarray, folds: int = 2, C: float = 1.0, max_iter: int = 1000, seed: int = 0
) -> float:
    """Mean held-out accuracy of the probe over stratified folds of one labelled set (e.g. a ``*_only_test`` set)."""
    labels = np.asarray(labels)
    scores = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        scores.append(linear_probe(features[train], labels[train], features[test], labels[test], C, max_iter, seed))
    return float(np.mean(scores))


def probe_splits(splits: Sequence[str], features: Sequence[str] = ("easy", "hard")) -> list[str]:
    """The features of ``features`` whose ``{F}_only_train``/``{F}_only_test`` splits exist."""
    return [f for f in features if f"{f}_only_train" in splits and f"{f}_only_test" in splits]


def probe_table(
    model: nn.Module,
    prepared,
    features: Sequence[str] = ("easy", "hard"),
    C: float = 1.0,
    max_iter: int = 1000,
    batch_size: int = 512,
    feature_fn: Callable[[nn.Module, Tensor], Tensor] | None = None,
) -> pd.DataFrame:
    """Probe accuracy per feature for one model on a ``PreparedData`` (empty table if it has no probe splits).

    ``feature_fn(model, normalised_inputs)``, if given, replaces the pre-logits (e.g. one branch's Φ of the
    two-branch toy model)."""
    rows = []

    def feats(x: Tensor) -> np.ndarray:
        if feature_fn is None:
            return extract_features(model, x, prepared.normalise, batch_size)
        with torch.inference_mode():
            was = model.training
            model.eval()
            device = next((p.device for p in model.parameters()), torch.device("cpu"))  # where the model is
            try:
                return torch.cat(
                    [
                        feature_fn(model, prepared.normalise(c.to(device))).reshape(c.shape[0], -1).double().cpu()
                        for c in x.split(batch_size)
                    ]
                ).numpy()
            finally:
                model.train(was)

    for feature in probe_splits(list(prepared.splits), features):
        tr, te = f"{feature}_only_train", f"{feature}_only_test"
        (xtr, ytr), (xte, yte) = prepared.splits[tr], prepared.splits[te]
        acc = linear_probe(feats(xtr), ytr.cpu().numpy(), feats(xte), yte.cpu().numpy(), C, max_iter)
        rows.append(
            {
                "feature": feature,
                "train_split": tr,
                "test_split": te,
                "accuracy": acc,
                "error": 1.0 - acc,
                "n_train": int(ytr.shape[0]),
                "n_test": int(yte.shape[0]),
            }
        )
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)
