"""Thin nodes over ``samlab.train`` and ``samlab.evaluate``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from samlab.data import PreparedData, TensorLoader
from samlab.evaluate import evaluate
from samlab.models import model_from_checkpoint
from samlab.train import CheckpointStore, train

log = logging.getLogger(__name__)


def _merged(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    return {**base, **(override or {})}


def train_model(
    prepared: PreparedData, model_params: dict[str, Any], training_params: dict[str, Any], variant: dict[str, Any],
    checkpoints: CheckpointStore, variant_name: str,
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


def evaluate_model(prepared: PreparedData, checkpoint: dict, training_params: dict[str, Any], variant_name: str) -> dict:
    """Test-split metrics of a trained checkpoint."""
    model = model_from_checkpoint(checkpoint)
    batch = int(training_params.get("eval_batch_size", 512))
    metrics: dict[str, Any] = {"variant": variant_name, "optimizer": checkpoint["optimizer_config"]["name"]}
    for split in ("val", "test"):
        if split in prepared.splits:
            scores = evaluate(model, TensorLoader(*prepared.splits[split], batch, prepared.normalise))
            metrics.update({f"{split}_{k}": v for k, v in scores.items()})
    log.info("%s: test accuracy %.4f, test loss %.4f", variant_name, metrics["test_accuracy"], metrics["test_loss"])
    return metrics
