"""``study``: one namespaced train → measure instance per population member, generated from ``params:study``.

Members: every perturbation × perturbation batch size m × seed (``study_<perturbation>_m<m>_s<seed>``), plus
the baselines without a perturbation (``study_<name>_s<seed>``). Not in ``__default__``:
``kedro run --pipeline study``.
"""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node

from samlab.pipelines.study.nodes import collect_population, correlate, measure_member, prepare_study_data, train_member
from samlab.pipelines.variants import project_parameters


def perturbation_batch_sizes(study: dict[str, Any]) -> list[int]:
    """m values: the configured list, or ``auto`` = 1, 2, 4, … up to the batch size; each must divide the batch."""
    batch = int(study["training"]["batch_size"])
    ms = study.get("perturbation_batch_sizes", "auto")
    if ms == "auto":
        ms = [2 ** k for k in range(batch.bit_length()) if 2 ** k <= batch and batch % 2 ** k == 0]
    bad = [m for m in ms if int(m) < 1 or batch % int(m)]
    if bad:
        raise ValueError(f"perturbation batch sizes {bad} do not divide the study batch size {batch}")
    return [int(m) for m in ms]


def population(study: dict[str, Any]) -> list[dict[str, Any]]:
    seeds = study.get("seeds", [0])
    members = [{"name": f"study_{p}_m{m}_s{s}", "perturbation": p, "m": m, "seed": int(s)}
               for p in study.get("perturbations", {}) for m in perturbation_batch_sizes(study) for s in seeds]
    members += [{"name": f"study_{b}_s{s}", "perturbation": b, "m": None, "seed": int(s)}
                for b in study.get("baselines", {}) for s in seeds]
    if len(members) < 3:
        raise ValueError(f"the study needs at least 3 members for Kendall's τ, got {len(members)}")
    return members


def _bound(func, member: dict[str, Any]):
    return update_wrapper(partial(func, member=member), func)


def member_pipeline(member: dict[str, Any]) -> Pipeline:
    template = Pipeline([
        node(_bound(train_member, member), inputs=["study_data", "params:study"], outputs=["model", "history", "forgetting"],
             name="train_member", tags=["study"]),
        node(_bound(measure_member, member), inputs=["study_data", "model", "forgetting", "params:study"],
             outputs="study_row", name="measure_member", tags=["study"]),
    ])
    return Pipeline(template, namespace=member["name"], inputs={"study_data"}, parameters={"params:study": "params:study"})


def create_pipeline(**kwargs) -> Pipeline:
    study = project_parameters().get("study")
    if study is None:
        return Pipeline([])
    members = population(study)
    inputs = {}
    for m in members:
        inputs.update({f"{m['name']}__row": f"{m['name']}.study_row", f"{m['name']}__forgetting": f"{m['name']}.forgetting"})
    shared = Pipeline([
        node(prepare_study_data, inputs="params:study", outputs="study_data", name="prepare_study_data", tags=["study"]),
        node(collect_population, inputs=inputs, outputs=["study_population", "study_forgetting"], name="collect_population",
             tags=["study"]),
        node(correlate, inputs=["study_population", "params:study"], outputs="study_correlation", name="correlate",
             tags=["study"]),
    ])
    return shared + sum((member_pipeline(m) for m in members), Pipeline([]))
