"""The training variants: the ``variants:`` map of the parameters (name → ``optimizer``, optional ``model``
and ``training`` overrides). Pure functions of a parameters dict; the pipeline registry calls them once
(``samlab.pipeline_registry``) and hands the names to every per-variant pipeline."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial, update_wrapper
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def variant_names(parameters: Mapping[str, Any]) -> list[str]:
    """The names of ``parameters["variants"]``, in the order the file lists them (namespaces of the training,
    robustness, transfer and analysis pipelines)."""
    variants = parameters.get("variants")
    if not isinstance(variants, Mapping) or not variants:
        raise ValueError(
            "no training variant: the parameters need a `variants:` map, e.g. "
            "`variants: {sam: {optimizer: {name: sam, lr: 0.1, rho: 0.05}}}` "
            "(conf/base/parameters_training.yml)"
        )
    bad = [name for name in variants if not isinstance(name, str) or not _NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"variant names must be identifiers (they become Kedro namespaces and folders): {bad}")
    missing = [name for name, block in variants.items() if not isinstance(block, Mapping) or "optimizer" not in block]
    if missing:
        raise ValueError(f"variants {missing} have no `optimizer:` block")
    return list(variants)


def bind_variant(func, name: str):
    """``func`` with its ``variant_name`` bound: a node knows its variant (for logs and tables) without a
    parameter for it, and keeps ``func``'s name for Kedro."""
    return update_wrapper(partial(func, variant_name=name), func)
