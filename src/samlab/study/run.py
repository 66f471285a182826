"""Run one population member: train it with the recorders, measure it, return its row and tables.

``run_member`` is a plain top-level function of a picklable ``Member``, so it runs unchanged in this process,
in a spawned worker process or on a Dask worker. Its data is prepared from the member's data settings in the
process that runs it (deterministic, cached per process), so nothing large travels to workers; the
member's torch thread count is set for its run and restored afterwards. The same member gives the same
row on any of them (one torch thread, its own seed; see ``samlab.study.fanout``).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd
import torch

from samlab.analysis import (
    BalanceRecorder,
    ForgettingRecorder,
    gini,
    lorenz_table,
    phantom_importance_weights,
)
from samlab.analysis.measure import measure_model
from samlab.analysis.two_branch import (
    branch_hidden,
    branch_output,
    head_per_batch,
    is_two_branch,
    lambda_bins,
)
from samlab.data import MissingRawFileError, PreparedData, TensorLoader, prepare_dataset
from samlab.evaluate import evaluate
from samlab.evaluate.probes import probe_table
from samlab.models import model_from_checkpoint
from samlab.optim import StepStats
from samlab.study.member import Member
from samlab.train import create_loss, train
from samlab.train.checkpoint import CheckpointStore

log = logging.getLogger(__name__)


@dataclass
class MemberResult:
    """A member's row (spec + measurements), its tables (``forgetting``, ``balance``, ``history``; feature
    members also ``probes``, ``head``, ``lambda_bins``, ``lorenz``) and its final checkpoint."""

    name: str
    row: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=4)
def _prepared(key: str) -> PreparedData:
    cfg = json.loads(key)
    return prepare_dataset(cfg.pop("name"), **cfg)


def load_data(cfg: dict[str, Any]) -> PreparedData:
    """The member's prepared data (cached per process by its settings)."""
    return _prepared(json.dumps(cfg, sort_keys=True))


def data_available(cfg: dict[str, Any]) -> bool:
    """False when the data set's raw files are missing (``optional`` feature sets are then skipped)."""
    try:
        load_data(cfg)
    except MissingRawFileError:
        return False
    return True


def _finite(x: float) -> float:
    return float(x) if x is not None and math.isfinite(float(x)) else math.nan


def feature_measurements(
    model: torch.nn.Module, data: PreparedData, member: Member
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Paper 2's measurements of one trained model: test accuracy, probes per feature; for the two-branch model
    also Φ-probes and v, ṽ per batch (λ vs λ̃: ``balance_measurements``)."""
    eval_batch = int(member.training.get("eval_batch_size", 512))
    metrics: dict[str, Any] = {}
    scores = evaluate(model, TensorLoader(*data.splits["test"], eval_batch, data.normalise))
    metrics.update(test_accuracy=scores["accuracy"], test_loss=scores["loss"])
    cfg = member.measure
    size = int(cfg.get("subset", {}).get("size", 1024))
    images, labels = data.splits["train"]
    x, y = data.normalise(images[:size]), labels[:size]
    pr = {"C": 1.0, "max_iter": 1000, **cfg.get("probes", {})}
    tables: dict[str, pd.DataFrame] = {}
    probe_parts = [
        probe_table(model, data, ("easy", "hard"), pr["C"], pr["max_iter"], eval_batch).assign(on="pre_logits")
    ]
    rho_ref = member.rho
    if is_two_branch(model):
        for feat in ("easy", "hard"):
            probe_parts.append(
                probe_table(
                    model, data, (feat,), pr["C"], pr["max_iter"], eval_batch, feature_fn=branch_output(feat)
                ).assign(on="phi")
            )
            probe_parts.append(
                probe_table(
                    model, data, (feat,), pr["C"], pr["max_iter"], eval_batch, feature_fn=branch_hidden(feat)
                ).assign(on="phi_hidden")
            )
        head = head_per_batch(model, x, y, rho_ref, int(member.training["batch_size"]), seed=member.seed)
        tables["head"] = head
        v = model.get_classifier().weight.detach().double().view(-1)
        metrics.update(
            weight_ratio=float(v[1].abs() / v[0].abs()),
            phantom_ratio=float(head["phantom_ratio"].median()),
            factor_easy_median=float(head["factor_easy"].median()),
            factor_hard_median=float(head["factor_hard"].median()),
        )
    probes = pd.concat(probe_parts, ignore_index=True)
    tables["probes"] = probes
    for r in probes.itertuples():
        metrics[f"probe_{r.feature}_{r.on}_accuracy"] = r.accuracy
    return metrics, tables


def balance_measurements(
    model: torch.nn.Module, data: PreparedData, member: Member, epoch: int
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """λ vs phantom λ̃ (Gini, Lorenz; and the λ bins of the two-branch model) on the training set, tagged with
    the ``epoch`` of the weights: at the end of training almost every λ is 0, so paper 2's Fig. 3 and 5 are
    also measured at an early epoch (``measure.early_epoch``)."""
    cfg = member.measure
    size = int(cfg.get("subset", {}).get("size", 1024))
    images, labels = data.splits["train"]
    x, y = data.normalise(images[:size]), labels[:size]
    loss_fn = create_loss(member.training.get("loss", "ce"))
    weights = phantom_importance_weights(model, loss_fn, x, y, member.rho, last_layer=True)
    tables = {
        "lorenz": lorenz_table(
            weights["real"].numpy(), weights["phantom"].numpy(), int(cfg.get("lorenz_points", 101))
        ).assign(epoch=epoch)
    }
    if is_two_branch(model):
        tables["lambda_bins"] = lambda_bins(model, x, y, member.rho, int(cfg.get("bins", 4))).assign(epoch=epoch)
    return {"gini_real": gini(weights["real"]), "gini_phantom": gini(weights["phantom"])}, tables


def run_member(member: Member) -> MemberResult:
    """Train ``member`` with the forgetting and balance recorders, then measure it as its ``kind`` says."""
    threads = torch.get_num_threads()
    torch.set_num_threads(member.threads)
    try:
        return _run(member)
    finally:
        torch.set_num_threads(threads)


def _run(member: Member) -> MemberResult:
    data = load_data(member.data)
    forgetting = ForgettingRecorder(every=member.record_every, chunk_size=member.m)
    balance = BalanceRecorder(every=member.record_every)

    def on_step(update: int, stats: StepStats) -> None:
        forgetting(update, stats)
        balance(update, stats)

    early = member.measure.get("early_epoch") if member.kind == "features" else None
    with tempfile.TemporaryDirectory(prefix="samlab-member-") as tmp:
        store = CheckpointStore(tmp, keep=None) if early else None
        result = train(
            data,
            member.model,
            member.optimizer,
            {**member.training, "seed": member.seed},
            name=member.name,
            checkpoints=store,
            on_step=on_step,
        )
        early_model = None
        if early and int(early) in store.epochs():
            early_model = model_from_checkpoint(
                {"model_config": result.checkpoint["model_config"], "state_dict": store.load(int(early))["model"]}
            )
    model = model_from_checkpoint(result.checkpoint)
    tables = {"forgetting": forgetting.table(), "balance": balance.table(), "history": pd.DataFrame(result.history)}
    row: dict[str, Any] = member.spec()
    if member.kind == "measure":
        metrics, *_ = measure_model(
            model,
            data,
            create_loss(member.training.get("loss", "ce")),
            member.measure,
            int(member.training.get("eval_batch_size", 512)),
        )
        row.update(metrics)
    elif member.kind == "score":
        scores = evaluate(
            model, TensorLoader(*data.splits["test"], int(member.training.get("eval_batch_size", 512)), data.normalise)
        )
        lam = member.optimizer.get("lam")
        row.update(
            gamma=float(member.optimizer.get("gamma", 1.0)),
            **{"lambda": float(lam) if lam is not None else 1.0 / data.num_classes},
            accuracy=scores["accuracy"],
            test_loss=scores["loss"],
        )
    else:
        metrics, extra = feature_measurements(model, data, member)
        final, balance_tables = balance_measurements(model, data, member, int(member.training.get("epochs", 0)))
        row.update(metrics, **final)
        if early_model is not None:
            at_early, early_tables = balance_measurements(early_model, data, member, int(early))
            row.update({f"{k}_early": v for k, v in at_early.items()}, early_epoch=int(early))
            balance_tables = {
                k: pd.concat([balance_tables[k], early_tables[k]], ignore_index=True) for k in balance_tables
            }
        extra.update(balance_tables)
        if "turns" in member.data:
            row["turns"] = float(member.data["turns"])
        tables.update(extra)
    row.update(forgetting.summary())
    row.update(balance.summary())
    row["final_train_loss"] = _finite(result.history[-1]["train_loss"]) if result.history else math.nan
    log.info(
        "%s: %s",
        member.name,
        ", ".join(f"{k} {row[k]:.4g}" for k in ("test_accuracy", "accuracy") if isinstance(row.get(k), float)),
    )
    return MemberResult(member.name, row, tables, result.checkpoint)
