"""The correlation study (paper 1, Fig. 2): a population of small models, τ of accuracy with each metric."""

from samlab.pipelines.study.pipeline import create_pipeline

__all__ = ["create_pipeline"]
