"""Figures and tables over every variant's outputs."""

from samlab.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
