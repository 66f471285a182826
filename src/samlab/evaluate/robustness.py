"""Robustness metrics: per-set evaluation into tidy rows, and mean corruption error (Hendrycks & Dietterich).

Tidy means one row per model × test set × corruption × severity, with ``accuracy``, ``error``, ``nll``,
``ece`` and ``n``; clean sets have corruption ``none`` and severity 0. mCE (the paper's definition):
``CE_c = Σ_s err_{s,c} / Σ_s err^{base}_{s,c}``, ``mCE = mean_c CE_c``; relative mCE subtracts each model's
clean error first: ``rCE_c = Σ_s (err_{s,c} − err_clean) / Σ_s (err^{base}_{s,c} − err^{base}_clean)``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from samlab.evaluate.metrics import classification_metrics

SET_SEPARATOR = "|"  # split names of the robustness test sets: "<test set>|<corruption>|<severity>"


def set_key(test_set: str, corruption: str = "none", severity: int = 0) -> str:
    return f"{test_set}{SET_SEPARATOR}{corruption}{SET_SEPARATOR}{severity}"


def parse_set_key(key: str) -> tuple[str, str, int]:
    parts = key.split(SET_SEPARATOR)
    if len(parts) != 3:
        raise ValueError(f"not a robustness set name {key!r}: expected 'test_set|corruption|severity'")
    return parts[0], parts[1], int(parts[2])


@torch.inference_mode()
def _row(test_set: str, corruption: str, severity: int, m: dict) -> dict:
    """One row of the robustness table (columns: docs/schemas.md) from ``classification_metrics``' output."""
    return {
        "test_set": test_set,
        "corruption": corruption,
        "severity": severity,
        "accuracy": m["accuracy"],
        "error": 1 - m["accuracy"],
        "nll": m["loss"],
        "ece": m["ece"],
        "n": m["n"],
    }


def set_logits(
    model: nn.Module, images: Tensor, normalise: Callable[[Tensor], Tensor], batch_size: int, device: torch.device
) -> Tensor:
    """Logits of a uint8 image tensor, batch by batch, on ``device``; returned on the CPU."""
    out = [model(normalise(chunk.to(device))).float().cpu() for chunk in images.split(batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def evaluate_sets(
    model: nn.Module,
    sets: dict[str, tuple[Tensor, Tensor]],
    normalise: Callable[[Tensor], Tensor],
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    class_subsets: dict[str, list[int]] | None = None,
    n_bins: int = 15,
    progress: bool | None = None,
    desc: str = "robustness",
) -> pd.DataFrame:
    """Accuracy/error/NLL/ECE of ``model`` on every named set (names ``test_set|corruption|severity``).

    ``class_subsets[test_set]`` restricts the logits to those classes first (ImageNet-R/-A keep 200 of the
    1000 classes); labels stay in the full class space.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    show = sys.stderr.isatty() if progress is None else progress
    rows = []
    try:
        for key in tqdm(list(sets), desc=desc, disable=not show):
            test_set, corruption, severity = parse_set_key(key)
            images, labels = sets[key]
            logits = set_logits(model, images, normalise, batch_size, device)
            subset = (class_subsets or {}).get(test_set)
            if subset is not None:
                keep = torch.as_tensor(subset, dtype=torch.long)
                masked = torch.full_like(logits, float("-inf"))
                masked[:, keep] = logits[:, keep]
                logits = masked
            m = classification_metrics(logits, labels, n_bins)
            rows.append(_row(test_set, corruption, severity, m))
    finally:
        model.train(was_training)
    return pd.DataFrame(rows, columns=["test_set", "corruption", "severity", "accuracy", "error", "nll", "ece", "n"])


def corruption_errors(results: pd.DataFrame, baseline: str, test_set: str = "test") -> pd.DataFrame:
    """CE and relative CE per model × corruption, plus one ``mean`` row per model (= mCE, relative mCE).

    ``results`` is the tidy table with a ``model`` column; ``baseline`` names the model that defines 100%.
    """
    df = results[results["test_set"] == test_set]
    if baseline not in set(df["model"]):
        raise ValueError(
            f"baseline model {baseline!r} has no results on {test_set!r}; models: {sorted(set(df['model']))}"
        )
    clean = df[df["corruption"] == "none"].groupby("model")["error"].first()
    corrupted = df[df["corruption"] != "none"]
    if corrupted.empty:
        raise ValueError(f"no corrupted rows for test set {test_set!r}")
    sums = corrupted.groupby(["model", "corruption"])["error"].sum()
    counts = corrupted.groupby(["model", "corruption"])["error"].count()
    rel = sums - counts * clean.reindex(sums.index.get_level_values("model")).to_numpy()
    base_sum, base_rel = sums.xs(baseline, level="model"), rel.xs(baseline, level="model")
    rows = []
    for (model, corruption), total in sums.items():
        b, br = base_sum.get(corruption, np.nan), base_rel.get(corruption, np.nan)
        rows.append(
            {
                "model": model,
                "corruption": corruption,
                "ce": total / b if b > 0 else np.nan,
                "relative_ce": rel[(model, corruption)] / br if br > 0 else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    means = table.groupby("model", sort=False)[["ce", "relative_ce"]].mean().reset_index()
    means.insert(1, "corruption", "mean")
    order = {m: i for i, m in enumerate(dict.fromkeys(results["model"]))}
    out = pd.concat([table, means], ignore_index=True)
    out["baseline"] = baseline
    return out.sort_values("model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


@torch.inference_mode()
def evaluate_file_sets(
    model: nn.Module,
    file_sets: dict[str, dict],
    mean,
    std,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    num_workers: int | None = None,
    n_bins: int = 15,
    progress: bool | None = None,
    desc: str = "robustness",
) -> pd.DataFrame:
    """The rows of ``evaluate_sets`` for streamed file sets (``samlab.evaluate.test_sets.file_set_specs``).

    Only logits are kept (N × C floats), never the images. A ``mask`` restricts the logits to those classes;
    multi-label sets (ReaL) count a prediction correct when it is in the image's label set (NLL and ECE are
    not defined there: NaN).
    """
    from samlab.data.eval_sets import FileSet, file_set_loader

    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    show = sys.stderr.isatty() if progress is None else progress
    rows = []
    try:
        for key, spec in tqdm(list(file_sets.items()), desc=desc, disable=not show):
            test_set, corruption, severity = parse_set_key(key)
            fs = FileSet(test_set, spec["files"], spec["targets"], spec["num_classes"], multi_label=spec["multi_label"])
            loader = file_set_loader(
                fs,
                spec["image_size"],
                spec["crop_pct"],
                mean,
                std,
                batch_size,
                num_workers,
                spec.get("channels", 3),
                device,
            )
            logits, targets = [], []
            for x, y in loader:
                logits.append(model(x).float().cpu())
                targets.append(y.cpu())
            logits, targets = torch.cat(logits), torch.cat(targets)
            if spec.get("mask") is not None:
                keep = torch.as_tensor(spec["mask"], dtype=torch.long)
                masked = torch.full_like(logits, float("-inf"))
                masked[:, keep] = logits[:, keep]
                logits = masked
            if spec["multi_label"]:
                m = {
                    "accuracy": real_accuracy(logits, targets),
                    "loss": float("nan"),
                    "ece": float("nan"),
                    "n": int(targets.shape[0]),
                }
            else:
                m = classification_metrics(logits, targets, n_bins)
            rows.append(_row(test_set, corruption, severity, m))
    finally:
        model.train(was_training)
    return pd.DataFrame(rows, columns=["test_set", "corruption", "severity", "accuracy", "error", "nll", "ece", "n"])


def real_accuracy(logits: Tensor, label_sets: Tensor) -> float:
    """ReaL accuracy: the share of images whose top-1 prediction is in its label set (multi-hot (N, C))."""
    pred = logits.argmax(dim=1)
    return float(label_sets.gather(1, pred.unsqueeze(1)).float().mean())
