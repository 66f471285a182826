"""Linear probes on frozen features (docs/science.md §10): how much of each feature a trained model carries.

Features are timm's pre-logits, ``forward_head(forward_features(x), pre_logits=True)``, in eval mode.
A probe for feature F is a standardised logistic regression (scikit-learn) fit on the split
``{F}_only_train`` and scored on ``{F}_only_test`` — splits where only feature F carries the label
(the other feature drawn with an independent label), written by the toy and dominoes data sets.

``probe_table`` rows: ``feature, train_split, test_split, accuracy, error, n_train, n_test``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

from samlab.analysis.sharpness import eval_mode

PROBE_COLUMNS = ["feature", "train_split", "test_split", "accuracy", "error", "n_train", "n_test"]


@torch.inference_mode()
def frozen_features(model: nn.Module, images: Tensor, normalise: Callable[[Tensor], Tensor], batch_size: int = 512) -> np.ndarray:
    """Pre-logit features (N, D) of uint8 images, eval mode, as float64 numpy."""
    out = []
    with eval_mode(model):
        for x in images.split(batch_size):
            feats = model.forward_head(model.forward_features(normalise(x)), pre_logits=True)
            out.append(feats.flatten(1).double().cpu())
    return torch.cat(out).numpy()


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   c: float = 1.0, max_iter: int = 1000) -> float:
    """Test accuracy of a standardised logistic-regression probe fit on the training features."""
    if len(np.unique(train_y)) < 2:
        raise ValueError("a probe needs at least two classes in its training split")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_x, train_y)
    return float(probe.score(test_x, test_y))


def probe_splits(splits: Sequence[str], features: Sequence[str] = ("easy", "hard")) -> list[str]:
    """The features of ``features`` whose ``{F}_only_train``/``{F}_only_test`` splits exist."""
    return [f for f in features if f"{f}_only_train" in splits and f"{f}_only_test" in splits]


def probe_table(model: nn.Module, prepared, features: Sequence[str] = ("easy", "hard"), c: float = 1.0,
                max_iter: int = 1000, batch_size: int = 512) -> pd.DataFrame:
    """Probe accuracy per feature for one model on a ``PreparedData`` (empty table if it has no probe splits)."""
    rows = []
    for feature in probe_splits(list(prepared.splits), features):
        tr, te = f"{feature}_only_train", f"{feature}_only_test"
        (xtr, ytr), (xte, yte) = prepared.splits[tr], prepared.splits[te]
        acc = probe_accuracy(frozen_features(model, xtr, prepared.normalise, batch_size), ytr.numpy(),
                             frozen_features(model, xte, prepared.normalise, batch_size), yte.numpy(), c, max_iter)
        rows.append({"feature": feature, "train_split": tr, "test_split": te, "accuracy": acc, "error": 1.0 - acc,
                     "n_train": int(ytr.shape[0]), "n_test": int(yte.shape[0])})
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)
