"""Thin nodes over ``samlab.data``."""

from __future__ import annotations

import logging
from typing import Any

from samlab.config import split_data_options
from samlab.data import PreparedData, prepare_dataset

log = logging.getLogger(__name__)


def prepare_data(data_params: dict[str, Any]) -> PreparedData:
    """Build the configured data set (``parameters_data_preparation.yml: data``; README "Data sets")."""
    cfg, dropped = split_data_options(dict(data_params))  # e.g. digits' `split` after --params data.name=mnist
    for key, owners in dropped.items():
        log.warning("data: %r is an option of %s, not of %r: ignored", key, ", ".join(owners), cfg["name"])
    data = prepare_dataset(cfg.pop("name"), **cfg)
    sizes = {k: len(v[1]) for k, v in data.splits.items()} or data.extra.get("counts", {})
    log.info(
        "prepared %s (%s, %d classes, input %s): %s",
        data.name,
        data.kind,
        data.num_classes,
        "×".join(map(str, data.image_shape)),
        sizes,
    )
    return data
