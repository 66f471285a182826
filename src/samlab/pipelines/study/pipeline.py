"""``study``: namespaced train → measure instances per population member, generated from parameters.

- ``params:study`` (paper 1, Fig. 2): every perturbation × perturbation batch size m × seed
  (``study_<perturbation>_m<m>_s<seed>``) plus baselines without a perturbation (``study_<name>_s<seed>``);
  Kendall τ of test accuracy with each metric.
- ``params:feature_study`` (paper 2, Fig. 2A): per data set with probe splits (toy, dominoes), every
  variant × seed (``features_<set>_<variant>_s<seed>``); probe accuracy per feature per model, and the
  importance weights' Gini along training (real λ vs phantom λ̃).
- ``params:obf_sweep`` (paper 1, Fig. 3 style): OBF at every γ × λ × seed on the τ study's data, model and
  training (``obf_g<γ>_l<λ>_s<seed>``, ``.`` written ``p`` and ``-`` written ``m``); test accuracy per member.
Every member records our forgetting estimators and the batch balance along training.
Not in ``__default__``: ``kedro run --pipelines study``.
"""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node

from samlab.pipelines.study.nodes import (
    collect_population,
    collect_rows,
    concat_tables,
    correlate,
    measure_member,
    prepare_study_data,
    score_member,
    train_member,
)


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


def _tag(value: float) -> str:
    """A number as a namespace-safe tag: 0.1 → 0p1, 1e-12 → 1em12."""
    return f"{value:g}".replace(".", "p").replace("-", "m").replace("+", "")


def obf_population(sweep: dict[str, Any], study: dict[str, Any]) -> list[dict[str, Any]]:
    """The OBF sweep's members: every γ × λ × seed, over the τ study's optimizer defaults."""
    gammas, lambdas = [float(g) for g in sweep.get("gammas", [1.0])], sweep.get("lambdas", [None])
    bad = [g for g in gammas if not 0.0 <= g <= 1.0] + [x for x in lambdas if x is not None and not 0.0 <= float(x) < 1.0]
    if bad:
        raise ValueError(f"obf_sweep: γ must be in [0, 1] and λ in [0, 1) (null = 1/C), got {bad}")
    if len(gammas) < 2 and len(lambdas) < 2:
        raise ValueError("obf_sweep needs at least two γ or two λ values to sweep")
    opt = {**study.get("optimizer_defaults", {}), **sweep.get("optimizer_defaults", {}), "name": "obf"}
    return [{"name": f"obf_g{_tag(g)}_l{'auto' if lam is None else _tag(float(lam))}_s{s}", "study": "obf_sweep",
             "perturbation": "obf", "m": None, "seed": int(s),
             "optimizer": {**opt, "gamma": g, "lam": None if lam is None else float(lam)}}
            for g in gammas for lam in lambdas for s in sweep.get("seeds", [0])]


def _bound(func, member: dict[str, Any]):
    return update_wrapper(partial(func, member=member), func)


def member_pipeline(member: dict[str, Any], data: str, params: str, score=measure_member) -> Pipeline:
    template = Pipeline([
        node(_bound(train_member, member), inputs=["data", "params:study"],
             outputs=["model", "history", "forgetting", "balance"], name="train_member", tags=["study"]),
        node(_bound(score, member), inputs=["data", "model", "forgetting", "balance", "params:study"],
             outputs="study_row", name=score.__name__, tags=["study"]),
    ])
    return Pipeline(template, namespace=member["name"], inputs={"data": data}, parameters={"params:study": params})


def tau_pipeline(study: dict[str, Any]) -> Pipeline:
    members = population(study)
    inputs = {}
    for m in members:
        inputs.update({f"{m['name']}__{k}": f"{m['name']}.{v}"
                       for k, v in (("row", "study_row"), ("forgetting", "forgetting"), ("balance", "balance"))})
    shared = Pipeline([
        node(prepare_study_data, inputs="params:study", outputs="study_data", name="prepare_study_data", tags=["study"]),
        node(collect_population, inputs=inputs, outputs=["study_population", "study_forgetting", "study_balance"],
             name="collect_population", tags=["study"]),
        node(correlate, inputs=["study_population", "params:study"], outputs=["study_correlation", "study_models", "study_tau_vs_m"], name="correlate",
             tags=["study"]),
    ])
    return shared + sum((member_pipeline(m, "study_data", "params:study") for m in members), Pipeline([]))


def feature_pipeline(feature_study: dict[str, Any]) -> Pipeline:
    nodes, rows, balance = [], {}, {}
    for name, fs in feature_study.items():
        params, data = f"params:feature_study.{name}", f"features_{name}.prepared"
        nodes.append(Pipeline([node(prepare_study_data, inputs=params, outputs=data, name=f"prepare_features_{name}",
                                    tags=["study"])]))
        for m in feature_population(name, fs):
            nodes.append(member_pipeline(m, data, params))
            rows[f"{m['name']}__row"] = f"{m['name']}.study_row"
            balance[f"{m['name']}__balance"] = f"{m['name']}.balance"
    collect = Pipeline([
        node(collect_rows, inputs=rows, outputs="feature_study", name="collect_feature_study", tags=["study"]),
        node(concat_tables, inputs=balance, outputs="feature_balance_trajectory", name="collect_feature_balance",
             tags=["study"]),
    ])
    return sum(nodes, Pipeline([])) + collect


def obf_sweep_pipeline(sweep: dict[str, Any], study: dict[str, Any]) -> Pipeline:
    """Members train on ``study_data`` (made by the τ study's ``prepare_study_data``) and are only scored."""
    members = obf_population(sweep, study)
    rows = {f"{m['name']}__row": f"{m['name']}.study_row" for m in members}
    collect = node(collect_rows, inputs=rows, outputs="obf_sweep", name="collect_obf_sweep", tags=["study"])
    return sum((member_pipeline(m, "study_data", "params:study", score=score_member) for m in members),
               Pipeline([])) + Pipeline([collect])


def create_pipeline(parameters: dict[str, Any]) -> Pipeline:
    params = parameters
    out = Pipeline([])
    if params.get("study"):
        out += tau_pipeline(params["study"])
        if params.get("obf_sweep"):
            out += obf_sweep_pipeline(params["obf_sweep"], params["study"])
    elif params.get("obf_sweep"):
        raise ValueError("obf_sweep trains on the τ study's data, model and training: it needs a `study:` block")
    if params.get("feature_study"):
        out += feature_pipeline(params["feature_study"])
    return out
