"""The study's tables from its members' rows and tables (Kedro-free; the study pipeline's collectors call these).

- ``tau_tables``: Kendall τ of test accuracy with each metric over the **perturbed members only** (one
  population for every metric: the baselines without a perturbation — SGD — have no m and no forgetting,
  so they are reported beside the population, never inside it), pooled over m and per m, with permutation
  p-values within seeds; and the long ``study_models`` table the reporting draws.
- ``mean_ci``: mean ± 95 % confidence half-width (Student t over seeds) of each metric per configuration.
- ``feature_tables``: paper 2's figures as tables (Fig. 2A/2B ``feature_summary``, Fig. 3 ``feature_lorenz``,
  Fig. 4 ``feature_lr_factors``, Fig. 5 ``feature_lambda_bins``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from samlab.analysis import correlation_table


def tau_tables(population: pd.DataFrame, cfg: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(``study_correlation``: metric, tau, p_value, n, significant; ``study_models``: model, accuracy, metric,
    value, perturbation, m; ``study_tau_vs_m``: metric, m, tau, p_value, n, significant).

    The pooled τ uses ``strata`` (e.g. within seeds); the per-m τ uses ``per_m_strata`` (default None: pooled
    over seeds, since one m and one seed hold only one member per perturbation)."""
    target, metrics, strata = cfg.get("target", "test_accuracy"), list(cfg["metrics"]), cfg.get("strata")
    perms, seed, alpha = int(cfg.get("permutations", 1000)), int(cfg.get("seed", 0)), float(cfg.get("alpha", 0.05))
    perturbed = population.dropna(subset=["m"])
    table = correlation_table(perturbed, metrics, target, perms, seed, alpha, strata=strata)
    models = perturbed.melt(
        id_vars=["variant", target, "perturbation", "m"], value_vars=metrics, var_name="metric", value_name="value"
    ).rename(columns={"variant": "model", target: "accuracy"})
    per_m = []
    per_m_strata = cfg.get("per_m_strata")  # within one m a seed holds only one member per perturbation
    for m, group in perturbed.groupby("m"):
        t = correlation_table(group, metrics, target, perms, seed, alpha, strata=per_m_strata)
        t.insert(1, "m", int(m))
        per_m.append(t)
    tau_vs_m = (
        pd.concat(per_m, ignore_index=True)
        if per_m
        else pd.DataFrame(columns=["metric", "m", "tau", "p_value", "n", "significant"])
    )
    return table, models, tau_vs_m


def mean_ci(rows: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], level: float = 0.95) -> pd.DataFrame:
    """Long table ``*by, metric, mean, ci95, n``: mean over the rows of each group (seeds) and the half-width
    of its Student-t confidence interval (NaN for one seed)."""
    out = []
    for key, g in rows.groupby(list(by), dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            if metric not in g:
                continue
            x = g[metric].astype(float).dropna().to_numpy()
            n = len(x)
            half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
            out.append(
                {**dict(zip(by, key)), "metric": metric, "mean": float(x.mean()) if n else np.nan, "ci95": half, "n": n}
            )
    return pd.DataFrame(out)


FEATURE_METRICS = [
    "test_accuracy",
    "probe_easy_pre_logits_accuracy",
    "probe_hard_pre_logits_accuracy",
    "probe_easy_phi_accuracy",
    "probe_hard_phi_accuracy",
    "probe_easy_phi_hidden_accuracy",
    "probe_hard_phi_hidden_accuracy",
    "weight_ratio",
    "phantom_ratio",
    "factor_easy_median",
    "factor_hard_median",
    "gini_real",
    "gini_phantom",
    "gini_real_early",
    "gini_phantom_early",
    "trajectory_gini_real",
    "trajectory_gini_phantom",
]


def _tagged(tables: dict[str, pd.DataFrame], rows: pd.DataFrame) -> pd.DataFrame:
    spec = rows.set_index("variant")[["group", "perturbation", "rho", "seed"]]
    parts = [t.assign(variant=name).join(spec, on="variant") for name, t in tables.items() if len(t)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def feature_tables(rows: pd.DataFrame, tables: dict[str, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """``feature_summary`` (group, perturbation, rho, metric, mean, ci95, n; a group's SGD rows appear under
    each of that group's perturbations as its ρ = 0), ``feature_lorenz`` (group, variant, perturbation, rho, seed, weights,
    fraction, cumulative_share), ``feature_lr_factors`` (per batch: group, perturbation, rho, seed, batch,
    factor_easy, factor_hard, phantom_ratio), ``feature_lambda_bins`` (per member and bin)."""
    parts = []
    for _, g in rows.groupby("group", sort=False):
        sgd = g[g["perturbation"] == "sgd"]
        parts += [g[g["perturbation"] != "sgd"]] + [
            sgd.assign(perturbation=p) for p in sorted(set(g["perturbation"]) - {"sgd"})
        ]
    rows_rho0 = pd.concat(parts, ignore_index=True)
    summary = mean_ci(rows_rho0, ["group", "perturbation", "rho"], FEATURE_METRICS)
    lorenz = _tagged({k: v["lorenz"] for k, v in tables.items() if "lorenz" in v}, rows)
    head = _tagged({k: v["head"] for k, v in tables.items() if "head" in v}, rows)
    bins = _tagged({k: v["lambda_bins"] for k, v in tables.items() if "lambda_bins" in v}, rows)
    balance = _tagged({k: v["balance"] for k, v in tables.items() if "balance" in v}, rows)
    return {
        "feature_summary": summary,
        "feature_lorenz": lorenz,
        "feature_lr_factors": head,
        "feature_lambda_bins": bins,
        "feature_balance_trajectory": balance,
    }
