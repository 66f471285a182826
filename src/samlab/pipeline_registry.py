"""Project pipelines: every ``pipelines/<name>`` package; ``__default__`` is all but ``study``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum((p for name, p in pipelines.items() if name != "study"), Pipeline([]))
    return pipelines
