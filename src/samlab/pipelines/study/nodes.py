"""Thin nodes: prepare the study's data, train one member with the forgetting recorder, measure it, correlate."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from samlab.analysis import ForgettingRecorder, correlation_table
from samlab.analysis.measure import measure_model
from samlab.data import PreparedData, prepare_dataset
from samlab.models import model_from_checkpoint
from samlab.train import create_loss, train

log = logging.getLogger(__name__)


def prepare_study_data(study: dict[str, Any]) -> PreparedData:
    cfg = dict(study["data"])
    return prepare_dataset(cfg.pop("name"), **cfg)


def train_member(data: PreparedData, study: dict[str, Any], member: dict[str, Any]) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Train one population member, recording our forgetting estimators every ``forgetting_every`` updates."""
    recorder = ForgettingRecorder(every=int(study.get("forgetting_every", 10)))
    result = train(data, study["model"], member["optimizer"], {**study["training"], "seed": member["seed"]},
                   name=member["name"], on_step=recorder)
    history = pd.DataFrame(result.history)
    history.insert(0, "variant", member["name"])
    forgetting = recorder.table()
    forgetting.insert(0, "variant", member["name"])
    return result.checkpoint, history, forgetting


def measure_member(data: PreparedData, checkpoint: dict, forgetting: pd.DataFrame, study: dict[str, Any],
                   member: dict[str, Any]) -> dict[str, Any]:
    """One population row: the member's spec, test accuracy, sharpness, feature balance, mean forgetting."""
    model = model_from_checkpoint(checkpoint)
    metrics, _, _ = measure_model(model, data, create_loss(study["training"].get("loss", "ce")), study.get("measure"))
    recorder = ForgettingRecorder(every=1, rows=forgetting.drop(columns="variant").to_dict("records"))
    row = {"variant": member["name"], "study": member["study"], "perturbation": member["perturbation"],
           "optimizer": member["optimizer"]["name"], "rho": member["optimizer"].get("rho", 0.0), "m": member["m"],
           "seed": member["seed"], **metrics, **recorder.summary()}
    log.info("%s: test acc %.4f, λ_max %.3g, KL %.3g", member["name"], row.get("test_accuracy", float("nan")),
             row["hessian_top_eigenvalue"], row["forgetting_output_kl"])
    return row


def collect_population(**rows: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The population table (one row per member) and all forgetting trajectories, concatenated."""
    members = [v for k, v in rows.items() if k.endswith("__row")]
    trajectories = [v for k, v in rows.items() if k.endswith("__forgetting")]
    return pd.DataFrame(members), pd.concat(trajectories, ignore_index=True)


def collect_feature_study(**rows: dict[str, Any]) -> pd.DataFrame:
    """One row per feature-study member (probe accuracies, Gini, test accuracy; schema in the README)."""
    return pd.DataFrame(list(rows.values()))


def correlate(population: pd.DataFrame, study: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Kendall τ of the target (test accuracy) with every metric, permutation p-values; also the reporting
    pipeline's long table ``study_models`` (``model, accuracy, metric, value, perturbation, m``) and
    ``study_tau_vs_m`` (``metric, m, tau, p_value, n``: τ over the members of each m)."""
    cfg = study["correlation"]
    table = correlation_table(population, cfg["metrics"], cfg.get("target", "test_accuracy"),
                              int(cfg.get("permutations", 1000)), int(cfg.get("seed", 0)), float(cfg.get("alpha", 0.05)))
    for row in table.itertuples():
        log.info("τ(%s, %s) = %.3f, p = %.3g (n = %d)", cfg.get("target", "test_accuracy"), row.metric, row.tau,
                 row.p_value, row.n)
    target = cfg.get("target", "test_accuracy")
    models = population.melt(id_vars=["variant", target, "perturbation", "m"], value_vars=list(cfg["metrics"]),
                             var_name="metric", value_name="value").rename(columns={"variant": "model", target: "accuracy"})
    per_m = []
    for m, group in population.dropna(subset=["m"]).groupby("m"):
        t = correlation_table(group, cfg["metrics"], target, int(cfg.get("permutations", 1000)), int(cfg.get("seed", 0)))
        t.insert(1, "m", int(m))
        per_m.append(t)
    tau_vs_m = pd.concat(per_m, ignore_index=True) if per_m else pd.DataFrame(columns=["metric", "m", "tau", "p_value", "n"])
    return table, models, tau_vs_m
