"""``reporting``: every table the other pipelines write → plotly figures, the summary table, the HTML report.

What it draws is declared here, in full: ``TABLES`` names each table a figure reads (its catalog dataset and the
pipeline that writes it) and ``FIGURE_NODES`` the figures. The graph does not depend on what has been run: a
table with no data yet (its pipeline not run) loads as ``None`` (hook ``OptionalReportInputs``) and its figure
says what to run. Only the training variants (learning curves, metrics) come from the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from samlab.pipelines.reporting import nodes as n

# table (node argument) → (catalog dataset, the pipeline that writes it); their columns: docs/schemas.md
TABLES: dict[str, tuple[str, str]] = {
    "robustness": ("robustness_accuracy", "robustness"),
    "mce": ("robustness_mce", "robustness"),
    "transfer": ("transfer_accuracy", "transfer"),
    "study_models": ("study_models", "study"),
    "correlation": ("study_correlation", "study"),
    "tau_vs_m": ("study_tau_vs_m", "study"),
    "lorenz": ("balance_lorenz", "analysis"),
    "probes": ("probe_accuracy", "analysis"),
    "lr_rescaling": ("lr_rescaling_factors", "analysis"),
    "balance_trajectory": ("feature_balance_trajectory", "study"),
    "obf_sweep": ("obf_sweep", "study"),
}


@dataclass(frozen=True)
class FigureNode:
    """One figure node: ``func`` draws ``outputs`` (catalog names) from ``tables`` (keys of ``TABLES``)."""

    name: str
    func: Callable
    outputs: tuple[str, ...]
    tables: tuple[str, ...]


FIGURE_NODES = (
    FigureNode("plot_robustness", n.plot_robustness, ("robustness_heatmap", "severity_lines"), ("robustness",)),
    FigureNode("plot_correlation", n.plot_correlation, ("metric_vs_accuracy",), ("study_models", "correlation")),
    FigureNode("plot_tau_vs_m", n.plot_tau_vs_m, ("tau_vs_m",), ("tau_vs_m",)),
    FigureNode("plot_lorenz", n.plot_lorenz, ("lorenz_curves",), ("lorenz",)),
    FigureNode("plot_probes", n.plot_probes, ("probe_error_vs_rho",), ("probes",)),
    FigureNode("plot_lr_rescaling", n.plot_lr_rescaling, ("lr_rescaling",), ("lr_rescaling",)),
    FigureNode("plot_balance_trajectory", n.plot_balance_trajectory, ("balance_trajectory",), ("balance_trajectory",)),
    FigureNode("plot_obf", n.plot_obf, ("obf_hyperparameters",), ("obf_sweep",)),
)
REPORT_ORDER = ["learning_curves", "update_curves", "accuracy_bars", *(o for f in FIGURE_NODES for o in f.outputs)]


def _bind(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(variants: list[str]) -> Pipeline:
    tag = ["reporting"]
    metrics = {f"{n.METRICS_PREFIX}{v}": f"{v}.metrics" for v in variants}
    nodes = [
        node(
            n.plot_learning_curves,
            inputs={v: f"{v}.history" for v in variants},
            outputs="learning_curves",
            name="plot_learning_curves",
            tags=[*tag, "figure"],
        ),
        # DVCLive writes its files from inside the training loop: each variant's history orders this node after
        # that variant's training (the figure reads the files, the history only sequences it)
        node(
            n.plot_update_curves,
            inputs={
                **{f"{n.HISTORY_PREFIX}{v}": f"{v}.history" for v in variants},
                **{v: f"{v}.update_curves_files" for v in variants},
            },
            outputs="update_curves",
            name="plot_update_curves",
            tags=[*tag, "figure"],
        ),
        node(
            n.summarise,
            inputs={**metrics, **{k: TABLES[k][0] for k in ("robustness", "mce", "transfer")}},
            outputs=["summary_table", "summary_markdown", "accuracy_table"],
            name="summarise_metrics",
            tags=[*tag, "table"],
        ),
        node(
            n.dvc_metrics, inputs="summary_table", outputs="summary_metrics", name="dvc_metrics", tags=[*tag, "table"]
        ),
        node(
            n.plot_accuracy_bars,
            inputs="accuracy_table",
            outputs="accuracy_bars",
            name="plot_accuracy_bars",
            tags=[*tag, "figure"],
        ),
    ]
    for spec in FIGURE_NODES:
        inputs = {k: TABLES[k][0] for k in spec.tables}
        outputs = spec.outputs[0] if len(spec.outputs) == 1 else list(spec.outputs)
        nodes.append(node(spec.func, inputs=inputs, outputs=outputs, name=spec.name, tags=[*tag, "figure"]))
    nodes.append(
        node(
            _bind(n.build_report, order=REPORT_ORDER),
            inputs={"summary": "summary_table", "parameters": "parameters", **{key: key for key in REPORT_ORDER}},
            outputs="report_html",
            name="build_report",
            tags=[*tag, "report"],
        )
    )
    return Pipeline(nodes)
