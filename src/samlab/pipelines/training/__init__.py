"""One namespaced train → evaluate instance per optimizer variant in the parameters."""

from samlab.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
