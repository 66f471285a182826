"""Thin nodes over ``samlab.data``."""

from __future__ import annotations

from typing import Any

from samlab.data import PreparedData, prepare_dataset


def prepare_data(data_params: dict[str, Any]) -> PreparedData:
    """Build the configured data set (``parameters_data_preparation.yml: data``)."""
    cfg = dict(data_params)
    return prepare_dataset(cfg.pop("name"), **cfg)
