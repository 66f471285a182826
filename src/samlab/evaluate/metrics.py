"""Classification metrics over whole splits: accuracy, NLL, expected calibration error."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def expected_calibration_error(probs: Tensor, labels: Tensor, n_bins: int = 15) -> float:
    """ECE with equal-width confidence bins: Σ_b |B|/N · |acc(B) − conf(B)|."""
    conf, pred = probs.max(dim=1)
    correct = pred.eq(labels).float()
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)
    acc_sum = torch.zeros(n_bins).index_add_(0, bins, correct)
    conf_sum = torch.zeros(n_bins).index_add_(0, bins, conf)
    return float((acc_sum - conf_sum).abs().sum() / max(len(labels), 1))


@torch.inference_mode()
def predict_logits(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """All logits and labels of a split, in eval mode (restores the model's mode afterwards)."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        for x, y in batches:
            logits.append(model(x).float().cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def classification_metrics(logits: Tensor, labels: Tensor, n_bins: int = 15) -> dict[str, float]:
    """accuracy, loss (= NLL of softmax), ece for a set of logits."""
    if logits.shape[0] != labels.shape[0] or logits.shape[0] == 0:
        raise ValueError(f"need matching, non-empty logits/labels, got {tuple(logits.shape)} and {tuple(labels.shape)}")
    probs = logits.softmax(dim=1)
    return {
        "accuracy": float(logits.argmax(dim=1).eq(labels).float().mean()),
        "loss": float(F.cross_entropy(logits, labels)),
        "ece": expected_calibration_error(probs, labels, n_bins),
        "n": int(labels.shape[0]),
    }


def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
    return classification_metrics(*predict_logits(model, batches))
