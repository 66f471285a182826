"""Thin nodes over ``samlab.evaluate.transfer``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from samlab.data import PreparedData
from samlab.evaluate.corruptions import torch_threads
from samlab.evaluate.transfer import make_target, transfer_table

COLUMNS = [
    "model",
    "source_optimizer",
    "target",
    "method",
    "finetune_optimizer",
    "accuracy",
    "nll",
    "ece",
    "n",
    "train_loss",
    "epochs",
    "time_s",
]


def build_target(prepared: PreparedData, params: dict[str, Any]) -> dict[str, PreparedData]:
    """Every target task, by name: ``targets: {name: config}`` (paper 1: CIFAR-10 and CIFAR-100) or one
    ``target: config``."""
    if params.get("targets"):
        configs = {name: dict(cfg) for name, cfg in params["targets"].items()}
    else:
        cfg = dict(params.get("target") or {"name": "parity"})
        configs = {cfg["name"]: cfg}
    out = {}
    for key, cfg in configs.items():
        cfg.setdefault("name", key)
        out[key] = make_target(prepared, cfg.pop("name"), **cfg)
    return out


def transfer_model(
    target: PreparedData | dict[str, PreparedData], checkpoint: dict, params: dict[str, Any], variant_name: str
) -> pd.DataFrame:
    with torch_threads(params.get("threads")):
        rows = transfer_table(
            checkpoint, target, params.get("finetune") or {}, params.get("linear_probe"), variant_name
        )
    # a model no recipe starts from still writes a (header-only) table
    return pd.DataFrame(rows, columns=None if rows else COLUMNS)


def collect(*tables: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(tables, ignore_index=True)
