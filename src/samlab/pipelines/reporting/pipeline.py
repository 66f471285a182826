"""``reporting``: every table the other pipelines write → plotly figures, the summary table, the HTML report.

Which nodes exist is decided from the catalog: a figure node is generated only when every table it needs is
declared in the catalog (an entry or a factory pattern), so figures appear as soon as the producing pipeline's
catalog entries are merged, and Kedro never sees an input it cannot resolve. A declared table with no data yet
(that pipeline not run) loads as ``None`` (hook ``OptionalReportInputs``) and its figure says what to run.
Tables are named in ``TABLES``: rename there if a producing pipeline names its dataset differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial, update_wrapper
from typing import Callable

from kedro.io.catalog_config_resolver import CatalogConfigResolver
from kedro.pipeline import Pipeline, node

from samlab.pipelines.reporting import nodes as n
from samlab.pipelines.variants import project_catalog_config, training_variants

# table (node argument) → (catalog dataset, the pipeline that writes it); schemas in samlab.reporting's docstrings
TABLES: dict[str, tuple[str, str]] = {
    "robustness": ("robustness_accuracy", "robustness"),   # model, test_set, corruption, severity, accuracy
    "mce": ("robustness_mce", "robustness"),                # model, mce
    "transfer": ("transfer_accuracy", "transfer"),          # model, target, method, accuracy
    "study_models": ("study_models", "study"),            # model, accuracy, metric, value [, perturbation, m]
    "correlation": ("study_correlation", "study"),        # metric, tau, p_value
    "tau_vs_m": ("study_tau_vs_m", "study"),              # metric, m, tau, p_value
    "lorenz": ("balance_lorenz", "analysis"),               # model, kind (real|phantom), fraction, share
    "probes": ("probe_accuracy", "analysis"),               # model, rho, feature, accuracy
    "lr_rescaling": ("lr_rescaling_factors", "analysis"),   # model, feature, factor [, epoch]
    "balance_trajectory": ("feature_balance_trajectory", "study"),  # variant, step, gini_real, gini_phantom
    "obf_sweep": ("obf_sweep", "study"),                    # gamma, lambda, accuracy [, seed]
}


@dataclass(frozen=True)
class FigureNode:
    name: str
    func: Callable
    outputs: tuple[str, ...]
    titles: tuple[str, ...]
    needs: tuple[str, ...]
    optional: tuple[str, ...] = field(default=())


FIGURE_NODES = (
    FigureNode("plot_robustness", n.plot_robustness, ("robustness_heatmap", "severity_lines"),
               ("Accuracy under corruption", "Accuracy vs corruption severity"), ("robustness",)),
    FigureNode("plot_correlation", n.plot_correlation, ("metric_vs_accuracy",),
               ("Sharpness and forgetting vs accuracy",), ("study_models",), ("correlation",)),
    FigureNode("plot_tau_vs_m", n.plot_tau_vs_m, ("tau_vs_m",), ("Kendall τ vs perturbation batch size m",),
               ("tau_vs_m",)),
    FigureNode("plot_lorenz", n.plot_lorenz, ("lorenz_curves",), ("Lorenz curves of importance weights",), ("lorenz",)),
    FigureNode("plot_probes", n.plot_probes, ("probe_error_vs_rho",), ("Probe error per feature vs rho",), ("probes",)),
    FigureNode("plot_lr_rescaling", n.plot_lr_rescaling, ("lr_rescaling",), ("Learning-rate rescaling factors",),
               ("lr_rescaling",)),
    FigureNode("plot_balance_trajectory", n.plot_balance_trajectory, ("balance_trajectory",),
               ("Importance-weight Gini along training",), ("balance_trajectory",)),
    FigureNode("plot_obf", n.plot_obf, ("obf_hyperparameters",), ("OBF hyper-parameters",), ("obf_sweep",)),
)
_RUNTIME_DEFAULT = {"{default}": {"type": "kedro.io.MemoryDataset"}}
REPORT_ORDER = ["learning_curves", "accuracy_bars", *(o for f in FIGURE_NODES for o in f.outputs)]


def declared_tables(catalog_config: dict | None = None) -> set[str]:
    """The keys of ``TABLES`` whose dataset the catalog declares (by name or through a factory pattern)."""
    config = project_catalog_config() if catalog_config is None else catalog_config
    entries = {k: {kk: vv for kk, vv in v.items() if kk != "credentials"} for k, v in config.items()
               if isinstance(v, dict) and not k.startswith("_")}  # only the names matter here
    resolver = CatalogConfigResolver(config=entries, default_runtime_patterns=_RUNTIME_DEFAULT)
    return {key for key, (ds, _) in TABLES.items() if ds in config or resolver.match_dataset_pattern(ds)}


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(catalog_config: dict | None = None, **kwargs) -> Pipeline:
    variants = training_variants()
    have = declared_tables(catalog_config)
    tag = ["reporting"]
    metrics = {f"{n.METRICS_PREFIX}{v}": f"{v}.metrics" for v in variants}
    nodes = [
        node(n.plot_learning_curves, inputs={v: f"{v}.history" for v in variants}, outputs="learning_curves",
             name="plot_learning_curves", tags=[*tag, "figure"]),
        node(n.summarise, inputs={**metrics, **{k: TABLES[k][0] for k in ("robustness", "mce", "transfer") if k in have}},
             outputs=["summary_table", "summary_markdown", "accuracy_table"], name="summarise_metrics",
             tags=[*tag, "table"]),
        node(n.plot_accuracy_bars, inputs="accuracy_table", outputs="accuracy_bars", name="plot_accuracy_bars",
             tags=[*tag, "figure"]),
    ]
    absent = {}
    for spec in FIGURE_NODES:
        missing = [k for k in spec.needs if k not in have]
        if missing:
            ds, producer = TABLES[missing[0]]
            for out, title in zip(spec.outputs, spec.titles):
                absent[out] = (title, f"Nothing to report yet: no pipeline writes `{ds}` so far "
                                      f"(the {producer} pipeline's table).")
            continue
        inputs = {k: TABLES[k][0] for k in (*spec.needs, *spec.optional) if k in have}
        outputs = spec.outputs[0] if len(spec.outputs) == 1 else list(spec.outputs)
        nodes.append(node(spec.func, inputs=inputs, outputs=outputs, name=spec.name, tags=[*tag, "figure"]))
    figures = {key: key for key in REPORT_ORDER if key not in absent}
    nodes.append(node(_bind(n.build_report, order=REPORT_ORDER, absent=absent),
                      inputs={"summary": "summary_table", "parameters": "parameters", **figures},
                      outputs="report_html", name="build_report", tags=[*tag, "report"]))
    return Pipeline(nodes)
