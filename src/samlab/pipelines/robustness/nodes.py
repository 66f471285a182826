"""Thin nodes over ``samlab.evaluate`` (test sets, per-model evaluation, mCE)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd

from samlab.data import PreparedData
from samlab.device import resolve_device
from samlab.evaluate.corruptions import torch_threads
from samlab.evaluate.probes import cross_validated_probe, extract_features
from samlab.evaluate.robustness import (
    corruption_errors,
    evaluate_file_sets,
    evaluate_sets,
    parse_set_key,
)
from samlab.evaluate.test_sets import build_robustness_sets
from samlab.models import model_from_checkpoint

log = logging.getLogger(__name__)


def build_test_sets(prepared: PreparedData, params: dict[str, Any]) -> PreparedData:
    """Clean test subsample, the corruption suite (generated or CIFAR-10-C files), shifted sets."""
    return build_robustness_sets(
        prepared,
        corruptions=params.get("corruptions", "all"),
        severities=params.get("severities", [1, 2, 3, 4, 5]),
        seed=int(params.get("seed", 0)),
        max_test_images=params.get("max_test_images"),
        parameter_set=params.get("parameter_set", "auto"),
        corrupted_npy=params.get("corrupted_npy"),
        image_folders=params.get("image_folders") or {},
        chunk_size=int(params.get("chunk_size", 256)),
        progress=bool(params.get("progress", False)),
        threads=params.get("corruption_threads"),
        eval_sets=params.get("eval_sets") or {},
    )


def evaluate_model(
    test_sets: PreparedData, checkpoint: dict, params: dict[str, Any], variant_name: str
) -> pd.DataFrame:
    """Tidy rows for one model; ``*_only_test`` sets also get a cross-validated linear-probe accuracy."""
    with torch_threads(params.get("eval_threads")):
        return _evaluate_model(test_sets, checkpoint, params, variant_name)


def _evaluate_model(
    test_sets: PreparedData, checkpoint: dict, params: dict[str, Any], variant_name: str
) -> pd.DataFrame:
    model = model_from_checkpoint(checkpoint)
    device = resolve_device(params.get("device", "auto"))
    batch = int(params.get("eval_batch_size", 512))
    table = evaluate_sets(
        model,
        test_sets.splits,
        test_sets.normalise,
        batch,
        device,
        json.loads(test_sets.extra.get("class_subsets", "{}")),
        progress=params.get("progress"),
        desc=f"{variant_name} robustness",
    )
    file_sets = test_sets.extra.get("file_sets") or {}
    if file_sets:  # streamed sets (ImageNet val, ReaL, V2, R, Sketch, C): read batch by batch
        streamed = evaluate_file_sets(
            model,
            file_sets,
            test_sets.mean,
            test_sets.std,
            batch,
            device,
            params.get("num_workers"),
            progress=params.get("progress"),
            desc=f"{variant_name} streamed sets",
        )
        table = streamed if table.empty else pd.concat([table, streamed], ignore_index=True)
    table.insert(0, "model", variant_name)
    table.insert(1, "optimizer", checkpoint.get("optimizer_config", {}).get("name", ""))
    probe_cfg = params.get("probe")
    table["probe_accuracy"] = float("nan")
    if probe_cfg:
        for key, (x, y) in test_sets.splits.items():
            test_set = parse_set_key(key)[0]
            if test_set.endswith("_only_test"):
                feats = extract_features(model, x, test_sets.normalise, batch, device)
                acc = cross_validated_probe(feats, y.numpy(), **probe_cfg)
                table.loc[table["test_set"] == test_set, "probe_accuracy"] = acc
    clean = table[(table["test_set"] == "test") & (table["corruption"] == "none")]
    corrupted = table[(table["test_set"] == "test") & (table["corruption"] != "none")]
    if len(clean):
        log.info(
            "%s: clean accuracy %.4f, mean corrupted accuracy %.4f, ECE %.4f",
            variant_name,
            clean["accuracy"].iloc[0],
            corrupted["accuracy"].mean() if len(corrupted) else float("nan"),
            clean["ece"].iloc[0],
        )
    return table


def summarise(params: dict[str, Any], *tables: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """All models' rows in one tidy table; CE / relative CE per model × corruption; mCE per model."""
    results = pd.concat(tables, ignore_index=True)
    baseline = params.get("baseline", "sgd")
    if baseline not in set(results["model"]) and len(results):
        log.warning(
            "mCE baseline %r is not among the models %s: using %r",
            baseline,
            sorted(set(results["model"])),
            results["model"].iloc[0],
        )
        baseline = results["model"].iloc[0]
    has_corruptions = ((results["test_set"] == "test") & (results["corruption"] != "none")).any()
    ce = (
        corruption_errors(results, baseline)
        if has_corruptions
        else pd.DataFrame(columns=["model", "corruption", "ce", "relative_ce", "baseline"])
    )
    means = ce[ce["corruption"] == "mean"]
    mce = pd.DataFrame(
        {
            "model": means["model"],
            "mce": means["ce"],
            "relative_mce": means["relative_ce"],
            "baseline": means["baseline"],
        }
    ).reset_index(drop=True)
    return results, ce, mce
