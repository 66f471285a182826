"""Evaluation: metrics over splits (accuracy, NLL, ECE)."""

from samlab.evaluate.metrics import classification_metrics, evaluate, expected_calibration_error, predict_logits

__all__ = ["classification_metrics", "evaluate", "expected_calibration_error", "predict_logits"]
