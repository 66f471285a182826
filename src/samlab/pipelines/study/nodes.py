"""Thin nodes: build a population from parameters, fan its members out (``samlab.study.run_members``), save
each member's row, tables and checkpoint as partitions, collect them into the study's tables."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from samlab.reporting import study_features as figures
from samlab.reporting.study_tau import tau_vs_m_panels
from samlab.study import (
    MemberResult,
    data_available,
    feature_population,
    obf_population,
    run_members,
    runner_settings,
    tau_population,
)
from samlab.study.summaries import feature_tables, tau_tables

log = logging.getLogger(__name__)

Partitions = dict[str, Callable[[], Any]]


def _partitions(results: list[MemberResult]) -> tuple[dict, dict, dict]:
    rows = {r.name: r.row for r in results}
    tables = {f"{r.name}/{t}": df for r in results for t, df in r.tables.items()}
    return rows, tables, {r.name: r.checkpoint for r in results}


def run_tau_study(study: dict[str, Any], runner: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Paper 1 Fig. 2's population: every perturbation × m × seed, plus the baselines (rows, tables, checkpoints)."""
    return _partitions(run_members(tau_population(study), **runner_settings(runner)))


def run_obf_sweep(sweep: dict[str, Any], study: dict[str, Any], runner: dict[str, Any]) -> tuple[dict, dict, dict]:
    """OBF at every γ × λ × seed on the τ study's data, model and training."""
    return _partitions(run_members(obf_population(sweep, study), **runner_settings(runner)))


def run_feature_study(feature_study: dict[str, Any], runner: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Paper 2: every feature set (``optional`` ones only when their raw files are present) × optimizer × ρ × seed."""
    members = []
    for name, fs in feature_study.items():
        fs = dict(fs)
        if fs.pop("optional", False) and not data_available(fs["data"]):
            log.info("feature_study.%s: raw files of %s not found, skipped", name, fs["data"]["name"])
            continue
        members += feature_population(name, fs)
    if not members:
        raise ValueError("feature_study: no feature set to run (every set is optional and lacks its raw files)")
    return _partitions(run_members(members, **runner_settings(runner)))


def _rows(rows: Partitions) -> pd.DataFrame:
    return pd.DataFrame([load() for _, load in sorted(rows.items())])


def _tables(tables: Partitions, name: str) -> dict[str, pd.DataFrame]:
    return {k.rsplit("/", 1)[0]: load() for k, load in sorted(tables.items()) if k.rsplit("/", 1)[-1] == name}


def _concat(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [t.assign(variant=name)[["variant", *t.columns]] for name, t in tables.items()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["variant"])


def collect_tau_study(rows: Partitions, tables: Partitions) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``study_population`` (one row per member), ``study_forgetting`` and ``study_balance`` (trajectories)."""
    return _rows(rows), _concat(_tables(tables, "forgetting")), _concat(_tables(tables, "balance"))


def correlate(population: pd.DataFrame, study: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Kendall τ of test accuracy with every metric over the perturbed members, pooled and per m."""
    table, models, per_m = tau_tables(population, study["correlation"])
    for row in table.itertuples():
        log.info("τ(accuracy, %s) = %.3f, p = %.3g (n = %d)", row.metric, row.tau, row.p_value, row.n)
    return table, models, per_m


def collect_obf_sweep(rows: Partitions) -> pd.DataFrame:
    return _rows(rows)


def collect_feature_study(rows: Partitions, tables: Partitions) -> tuple[pd.DataFrame, ...]:
    """``feature_study`` (one row per member) and paper 2's tables (``samlab.study.summaries.feature_tables``)."""
    frame = _rows(rows)
    per_member: dict[str, dict[str, pd.DataFrame]] = {}
    for key, load in sorted(tables.items()):
        member, table = key.rsplit("/", 1)
        per_member.setdefault(member, {})[table] = load()
    t = feature_tables(frame, per_member)
    return (
        frame,
        t["feature_summary"],
        t["feature_lorenz"],
        t["feature_lr_factors"],
        t["feature_lambda_bins"],
        t["feature_balance_trajectory"],
    )


def plot_feature_study(summary: pd.DataFrame, lorenz: pd.DataFrame, factors: pd.DataFrame, bins: pd.DataFrame) -> tuple:
    """Paper 2's Fig. 2A, 2B, 3, 4, 5 (``samlab.reporting.study_features``)."""
    return (
        figures.probe_error_vs_rho(summary),
        figures.phantom_ratio_vs_rho(summary),
        figures.lorenz_sgd_vs_lsam(lorenz),
        figures.lr_factor_distributions(factors),
        figures.lambda_bin_heatmaps(bins),
    )


def plot_tau_study(tau_vs_m: pd.DataFrame, study: dict[str, Any]):
    """Paper 1's Fig. 2: τ vs m per metric, solid only where p ≤ alpha (``samlab.reporting.study_tau``)."""
    return tau_vs_m_panels(tau_vs_m, float(study["correlation"].get("alpha", 0.05)))
