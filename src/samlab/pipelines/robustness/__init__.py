"""Corruption suite, shifted sets, calibration and mCE for every trained model."""

from samlab.pipelines.robustness.pipeline import create_pipeline

__all__ = ["create_pipeline"]
