"""Reporting: plotly figures and tables."""

from samlab.reporting.figures import learning_curves, markdown_table, summary_table

__all__ = ["learning_curves", "markdown_table", "summary_table"]
