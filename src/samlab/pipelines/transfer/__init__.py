"""Fine-tuning and linear probes of every trained model on a target task."""

from samlab.pipelines.transfer.pipeline import create_pipeline

__all__ = ["create_pipeline"]
