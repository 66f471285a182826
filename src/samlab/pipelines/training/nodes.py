"""Thin nodes over ``samlab.train`` and ``samlab.evaluate``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from samlab.data import PreparedData, make_loader
from samlab.evaluate import evaluate
from samlab.models import model_from_checkpoint
from samlab.train import CheckpointStore, train
from samlab.train.loop import resolve_device

log = logging.getLogger(__name__)


def _merged(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    return {**base, **(override or {})}


def train_model(
    prepared: PreparedData,
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    variant: dict[str, Any],
    checkpoints: CheckpointStore,
    variant_name: str,
) -> tuple[dict, pd.DataFrame]:
    """Train one variant: shared ``model``/``training`` settings, overridden by the variant's own block.

    ``checkpoints`` is the catalog's per-epoch checkpoint folder of this namespace (``resume: true``
    continues from its newest file).
    """
    result = train(
        prepared,
        _merged(model_params, variant.get("model")),
        variant["optimizer"],
        _merged(training_params, variant.get("training")),
        name=variant_name,
        checkpoints=checkpoints,
    )
    history = pd.DataFrame(result.history)
    history.insert(0, "variant", variant_name)
    return result.checkpoint, history


def evaluate_model(
    prepared: PreparedData, checkpoint: dict, training_params: dict[str, Any], variant_name: str
) -> dict:
    """Val/test-split metrics of a trained checkpoint, for tensor and streamed data alike."""
    model = model_from_checkpoint(checkpoint)
    batch = int(training_params.get("eval_batch_size", 512))
    device = resolve_device(training_params.get("device", "auto"))
    model.to(device)
    metrics: dict[str, Any] = {"variant": variant_name, "optimizer": checkpoint["optimizer_config"]["name"]}
    for split in ("val", "test"):
        if prepared.has_split(split):
            scores = evaluate(model, make_loader(prepared, split, batch, device=device))
            metrics.update({f"{split}_{k}": v for k, v in scores.items()})
    if "test_accuracy" not in metrics:
        raise ValueError(
            f"{prepared.name} has no test split to evaluate {variant_name} on; splits: {prepared.split_names}"
        )
    log.info("%s: test accuracy %.4f, test loss %.4f", variant_name, metrics["test_accuracy"], metrics["test_loss"])
    return metrics
