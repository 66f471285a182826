"""Sharpness, feature balance and probes of every trained model of the training pipeline."""

from samlab.pipelines.analysis.pipeline import create_pipeline

__all__ = ["create_pipeline"]
