"""The project's pipelines, built from one explicit input: the ``variants:`` map of the parameters.

Kedro calls ``register_pipelines()`` without arguments, so this module reads the parameters itself, with the
project's own config loader settings (``samlab.settings``), from ``conf/`` of this project and the environment
named by ``KEDRO_ENV`` (Kedro's default, ``local`` over ``base``, when unset). A ``kedro run --env X`` whose
variant list differs from that is refused before any node runs (``samlab.hooks.VariantListCheck``); recipe
environments that only change the variants' settings work with ``--env``. Why this shape: docs/architecture.md.

``__default__`` is every pipeline but ``study`` (``kedro run --pipelines study``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.pipeline import Pipeline

from samlab.pipelines import analysis, data_preparation, reporting, robustness, study, training, transfer
from samlab.pipelines.variants import variant_names

# src/samlab/pipeline_registry.py → the project root (a src-layout Kedro project; the package sits in src/)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_parameters(env: str | None = None, conf_source: str | Path | None = None) -> dict[str, Any]:
    """The parameters of ``env`` (``KEDRO_ENV`` when not given), read as a ``kedro run`` reads them."""
    from kedro.framework.project import settings

    conf = Path(conf_source) if conf_source is not None else PROJECT_ROOT / settings.CONF_SOURCE
    if not conf.is_dir():
        raise FileNotFoundError(f"no configuration folder {conf}: the pipelines are built from its parameters")
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(conf), env=env or os.environ.get("KEDRO_ENV"), **settings.CONFIG_LOADER_ARGS
    )
    return dict(loader["parameters"])


def create_pipelines(parameters: dict[str, Any]) -> dict[str, Pipeline]:
    """Every pipeline for these parameters: the per-variant ones get the variant names explicitly."""
    variants = variant_names(parameters)
    pipelines = {
        "data_preparation": data_preparation.create_pipeline(),
        "training": training.create_pipeline(variants),
        "robustness": robustness.create_pipeline(variants),
        "transfer": transfer.create_pipeline(variants),
        "analysis": analysis.create_pipeline(variants),
        "reporting": reporting.create_pipeline(variants),
        "study": study.create_pipeline(parameters),
    }
    pipelines["__default__"] = sum((p for name, p in pipelines.items() if name != "study"), Pipeline([]))
    return pipelines


def register_pipelines() -> dict[str, Pipeline]:
    return create_pipelines(run_parameters())
