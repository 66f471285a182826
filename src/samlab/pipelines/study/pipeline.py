"""``study``: namespaced train → measure instances per population member, generated from parameters.

- ``params:study`` (paper 1, Fig. 2): every perturbation × perturbation batch size m × seed
  (``study_<perturbation>_m<m>_s<seed>``) plus baselines without a perturbation (``study_<name>_s<seed>``);
  Kendall τ of test accuracy with each metric.
- ``params:feature_study`` (paper 2, Fig. 2A): per data set with probe splits (toy, dominoes), every
  variant × seed (``features_<set>_<variant>_s<seed>``); probe accuracy per feature per model.
Not in ``__default__``: ``kedro run --pipeline study``.
"""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node

from samlab.pipelines.study.nodes import (
    collect_feature_study,
    collect_population,
    correlate,
    measure_member,
    prepare_study_data,
    train_member,
)
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
    """The τ study's members, each with its full optimizer config."""
    seeds = study.get("seeds", [0])
    defaults = study.get("optimizer_defaults", {})
    members = [{"name": f"study_{p}_m{m}_s{s}", "study": "tau", "perturbation": p, "m": m, "seed": int(s),
                "optimizer": {**defaults, **cfg, "perturbation_batch_size": m}}
               for p, cfg in study.get("perturbations", {}).items() for m in perturbation_batch_sizes(study) for s in seeds]
    plain = {k: v for k, v in defaults.items() if k != "rho"}
    members += [{"name": f"study_{b}_s{s}", "study": "tau", "perturbation": b, "m": None, "seed": int(s),
                 "optimizer": {**plain, **cfg}} for b, cfg in study.get("baselines", {}).items() for s in seeds]
    if len(members) < 3:
        raise ValueError(f"the study needs at least 3 members for Kendall's τ, got {len(members)}")
    return members


def feature_population(name: str, fs: dict[str, Any]) -> list[dict[str, Any]]:
    """A feature study's members: every variant (optimizer overrides) × seed."""
    defaults = fs.get("optimizer_defaults", {})
    return [{"name": f"features_{name}_{v}_s{s}", "study": name, "perturbation": v, "m": None, "seed": int(s),
             "optimizer": {**{k: x for k, x in defaults.items() if cfg.get("name") != "sgd" or k != "rho"}, **cfg}}
            for v, cfg in fs["variants"].items() for s in fs.get("seeds", [0])]


def _bound(func, member: dict[str, Any]):
    return update_wrapper(partial(func, member=member), func)


def member_pipeline(member: dict[str, Any], data: str, params: str) -> Pipeline:
    template = Pipeline([
        node(_bound(train_member, member), inputs=["data", "params:study"], outputs=["model", "history", "forgetting"],
             name="train_member", tags=["study"]),
        node(_bound(measure_member, member), inputs=["data", "model", "forgetting", "params:study"],
             outputs="study_row", name="measure_member", tags=["study"]),
    ])
    return Pipeline(template, namespace=member["name"], inputs={"data": data}, parameters={"params:study": params})


def tau_pipeline(study: dict[str, Any]) -> Pipeline:
    members = population(study)
    inputs = {}
    for m in members:
        inputs.update({f"{m['name']}__row": f"{m['name']}.study_row", f"{m['name']}__forgetting": f"{m['name']}.forgetting"})
    shared = Pipeline([
        node(prepare_study_data, inputs="params:study", outputs="study_data", name="prepare_study_data", tags=["study"]),
        node(collect_population, inputs=inputs, outputs=["study_population", "study_forgetting"], name="collect_population",
             tags=["study"]),
        node(correlate, inputs=["study_population", "params:study"], outputs=["study_correlation", "study_models", "study_tau_vs_m"], name="correlate",
             tags=["study"]),
    ])
    return shared + sum((member_pipeline(m, "study_data", "params:study") for m in members), Pipeline([]))


def feature_pipeline(feature_study: dict[str, Any]) -> Pipeline:
    nodes, rows = [], {}
    for name, fs in feature_study.items():
        params, data = f"params:feature_study.{name}", f"features_{name}.prepared"
        nodes.append(Pipeline([node(prepare_study_data, inputs=params, outputs=data, name=f"prepare_features_{name}",
                                    tags=["study"])]))
        for m in feature_population(name, fs):
            nodes.append(member_pipeline(m, data, params))
            rows[f"{m['name']}__row"] = f"{m['name']}.study_row"
    collect = node(collect_feature_study, inputs=rows, outputs="feature_study", name="collect_feature_study", tags=["study"])
    return sum(nodes, Pipeline([])) + Pipeline([collect])


def create_pipeline(**kwargs) -> Pipeline:
    params = project_parameters()
    out = Pipeline([])
    if params.get("study"):
        out += tau_pipeline(params["study"])
    if params.get("feature_study"):
        out += feature_pipeline(params["feature_study"])
    return out
