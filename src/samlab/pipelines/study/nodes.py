"""Thin nodes: prepare the study's data, train one member with the forgetting and balance recorders, measure
it (or, for the OBF sweep, only score it), correlate."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from samlab.analysis import BalanceRecorder, ForgettingRecorder, correlation_table
from samlab.analysis.measure import measure_model
from samlab.data import PreparedData, TensorLoader, prepare_dataset
from samlab.evaluate import evaluate
from samlab.models import model_from_checkpoint
from samlab.optim import StepStats
from samlab.train import create_loss, train

log = logging.getLogger(__name__)


def prepare_study_data(study: dict[str, Any]) -> PreparedData:
    cfg = dict(study["data"])
    return prepare_dataset(cfg.pop("name"), **cfg)


def train_member(data: PreparedData, study: dict[str, Any], member: dict[str, Any]
                 ) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Train one population member, recording our forgetting estimators and the batch importance weights'
    balance (real λ vs phantom λ̃ at the perturbation taken) every ``forgetting_every`` updates."""
    every = int(study.get("forgetting_every", 10))
    forgetting_recorder, balance_recorder = ForgettingRecorder(every=every), BalanceRecorder(every=every)

    def on_step(update: int, stats: StepStats) -> None:
        forgetting_recorder(update, stats)
        balance_recorder(update, stats)

    result = train(data, study["model"], member["optimizer"], {**study["training"], "seed": member["seed"]},
                   name=member["name"], on_step=on_step)
    history = pd.DataFrame(result.history)
    history.insert(0, "variant", member["name"])
    forgetting, balance = forgetting_recorder.table(), balance_recorder.table()
    forgetting.insert(0, "variant", member["name"])
    balance.insert(0, "variant", member["name"])
    return result.checkpoint, history, forgetting, balance


def _trajectory_summaries(forgetting: pd.DataFrame, balance: pd.DataFrame) -> dict[str, float]:
    rows = {t: df.drop(columns="variant").to_dict("records") for t, df in (("f", forgetting), ("b", balance))}
    return {**ForgettingRecorder(every=1, rows=rows["f"]).summary(), **BalanceRecorder(every=1, rows=rows["b"]).summary()}


def measure_member(data: PreparedData, checkpoint: dict, forgetting: pd.DataFrame, balance: pd.DataFrame,
                   study: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """One population row: the member's spec, test accuracy, sharpness, feature balance (end of training and
    trajectory means), mean forgetting."""
    model = model_from_checkpoint(checkpoint)
    metrics, *_ = measure_model(model, data, create_loss(study["training"].get("loss", "ce")), study.get("measure"))
    row = {"variant": member["name"], "study": member["study"], "perturbation": member["perturbation"],
           "optimizer": member["optimizer"]["name"], "rho": member["optimizer"].get("rho", 0.0), "m": member["m"],
           "seed": member["seed"], **metrics, **_trajectory_summaries(forgetting, balance)}
    log.info("%s: test acc %.4f, λ_max %.3g, KL %.3g", member["name"], row.get("test_accuracy", float("nan")),
             row["hessian_top_eigenvalue"], row["forgetting_output_kl"])
    return row


def score_member(data: PreparedData, checkpoint: dict, forgetting: pd.DataFrame, balance: pd.DataFrame,
                 study: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """One OBF-sweep row: γ, λ (None = 1/C, written as the value used), seed, test accuracy and loss, and the
    trajectory means of forgetting and balance (no Hessian: the sweep asks only how accuracy moves)."""
    model = model_from_checkpoint(checkpoint)
    scores = evaluate(model, TensorLoader(*data.splits["test"], int(study["training"].get("eval_batch_size", 512)),
                                          data.normalise))
    opt = member["optimizer"]
    lam = opt.get("lam")
    row = {"variant": member["name"], "gamma": float(opt.get("gamma", 1.0)),
           "lambda": float(lam) if lam is not None else 1.0 / data.num_classes, "rho": float(opt.get("rho", 0.0)),
           "seed": member["seed"], "accuracy": scores["accuracy"], "test_loss": scores["loss"],
           **_trajectory_summaries(forgetting, balance)}
    log.info("%s: γ %g, λ %g, test acc %.4f", member["name"], row["gamma"], row["lambda"], row["accuracy"])
    return row


def collect_population(**rows: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The population table (one row per member) and all forgetting and balance trajectories, concatenated."""
    members = [v for k, v in rows.items() if k.endswith("__row")]
    forgetting = [v for k, v in rows.items() if k.endswith("__forgetting")]
    balance = [v for k, v in rows.items() if k.endswith("__balance")]
    return pd.DataFrame(members), pd.concat(forgetting, ignore_index=True), pd.concat(balance, ignore_index=True)


def collect_rows(**rows: dict[str, Any]) -> pd.DataFrame:
    """One row per member (the feature study's and the OBF sweep's tables; schemas in the README)."""
    return pd.DataFrame(list(rows.values()))


def concat_tables(**tables: pd.DataFrame) -> pd.DataFrame:
    """Per-member trajectories (each with its ``variant`` column) as one table."""
    return pd.concat(list(tables.values()), ignore_index=True)


def correlate(population: pd.DataFrame, study: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Kendall τ of the target (test accuracy) with every metric, permutation p-values (within ``strata``,
    e.g. the seed, and combined, when the parameters name one); also the reporting
    pipeline's long table ``study_models`` (``model, accuracy, metric, value, perturbation, m``) and
    ``study_tau_vs_m`` (``metric, m, tau, p_value, n``: τ over the members of each m)."""
    cfg = study["correlation"]
    strata = cfg.get("strata")
    table = correlation_table(population, cfg["metrics"], cfg.get("target", "test_accuracy"),
                              int(cfg.get("permutations", 1000)), int(cfg.get("seed", 0)), float(cfg.get("alpha", 0.05)),
                              strata=strata)
    for row in table.itertuples():
        log.info("τ(%s, %s) = %.3f, p = %.3g (n = %d)", cfg.get("target", "test_accuracy"), row.metric, row.tau,
                 row.p_value, row.n)
    target = cfg.get("target", "test_accuracy")
    models = population.melt(id_vars=["variant", target, "perturbation", "m"], value_vars=list(cfg["metrics"]),
                             var_name="metric", value_name="value").rename(columns={"variant": "model", target: "accuracy"})
    per_m = []
    for m, group in population.dropna(subset=["m"]).groupby("m"):
        t = correlation_table(group, cfg["metrics"], target, int(cfg.get("permutations", 1000)), int(cfg.get("seed", 0)),
                              strata=strata)
        t.insert(1, "m", int(m))
        per_m.append(t)
    tau_vs_m = pd.concat(per_m, ignore_index=True) if per_m else pd.DataFrame(columns=["metric", "m", "tau", "p_value", "n"])
    return table, models, tau_vs_m
