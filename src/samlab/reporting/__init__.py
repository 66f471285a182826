"""Reporting: plotly figures, the summary table and the HTML report (Kedro-free).

Every figure builder takes the producing pipeline's table in the schema its docstring states, ``None`` when
that pipeline has not run, and returns a figure; with nothing to draw it returns a figure that says so
(:func:`nothing_yet`) rather than an empty chart.
"""

from samlab.reporting.accuracy import accuracy_bars, accuracy_table, split_seed
from samlab.reporting.balance import balance_trajectory, gini, lorenz_curves, lr_rescaling, probe_error_vs_rho
from samlab.reporting.common import is_nothing_yet, nothing_yet
from samlab.reporting.correlation import metric_vs_accuracy, tau_vs_m
from samlab.reporting.curves import learning_curves
from samlab.reporting.obf import obf_hyperparameters
from samlab.reporting.report import report_html
from samlab.reporting.robustness import robustness_heatmap, severity_lines
from samlab.reporting.tables import best_cells, html_table, markdown_table, metric_numbers, summary_table

__all__ = [
    "accuracy_bars",
    "accuracy_table",
    "balance_trajectory",
    "best_cells",
    "gini",
    "html_table",
    "is_nothing_yet",
    "learning_curves",
    "lorenz_curves",
    "lr_rescaling",
    "markdown_table",
    "metric_numbers",
    "metric_vs_accuracy",
    "nothing_yet",
    "obf_hyperparameters",
    "probe_error_vs_rho",
    "report_html",
    "robustness_heatmap",
    "severity_lines",
    "split_seed",
    "summary_table",
    "tau_vs_m",
]
