"""Raw files (or the embedded digits) → prepared, model-ready tensor splits."""

from samlab.pipelines.data_preparation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
