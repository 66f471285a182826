"""Perturbed forgetting along the training trajectory (docs/science.md §9) — **our proposed estimators**.

Paper 1 (Vani et al. 2024) measures forgetting at the perturbations SAM actually takes, but its estimator
code was not released. These estimators are samlab's own, computed on the perturbed chunk(s) of a step
from what the optimizer reports (``StepStats`` with ``return_outputs=True``):

- output forgetting ``output_kl`` = mean_i KL(p_i(w) ‖ p_i(w + e)) (softmax outputs, nats);
- ``loss_increase`` = L(w + e) − L(w);
- input-exposed information I(X; Ŷ) ≈ H(mean_i p_i) − mean_i H(p_i) (nats, over the chunk's samples) at
  w (``info_clean``) and at w + e (``info_perturbed``), and its drop ``info_drop`` = clean − perturbed.

**Per chunk** (m-sharpness, m < batch): every chunk of m samples has its own perturbation w + e_c, so each
chunk is compared with its own clean outputs and the estimators are averaged over chunks (``chunk_size`` = m;
``StepStats`` concatenates the chunks' outputs in order). Pooling the chunks' perturbed outputs would mix m
perturbations into one output distribution. With m = 1 the information terms are 0 by construction (one
sample has no spread of predictions).

``ForgettingRecorder`` is the training loop's ``on_step`` callback: it samples every ``every``-th update
and keeps one row per sampled step. Its table (``data/07_model_output/<ns>/forgetting.csv``) has columns
``step, loss, perturbed_loss, loss_increase, output_kl, info_clean, info_perturbed, info_drop,
perturbation_norm, rho``; ``summary()`` averages them into one number each per model
(``forgetting_<column>``). Steps without a perturbation (plain SGD) have NaN perturbed columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from samlab.analysis.recorder import StepRecorder
from samlab.optim import StepStats

COLUMNS = [
    "step",
    "loss",
    "perturbed_loss",
    "loss_increase",
    "output_kl",
    "info_clean",
    "info_perturbed",
    "info_drop",
    "perturbation_norm",
    "rho",
]
SUMMARY_COLUMNS = ["loss_increase", "output_kl", "info_drop", "info_clean", "info_perturbed"]


def kl_divergence(logits_p: Tensor, logits_q: Tensor) -> float:
    """mean_i KL(softmax(logits_p_i) ‖ softmax(logits_q_i)), in nats."""
    if logits_p.shape != logits_q.shape or logits_p.ndim != 2:
        raise ValueError(
            f"need two (N, C) logit tensors of one shape, got {tuple(logits_p.shape)}, {tuple(logits_q.shape)}"
        )
    log_p = logits_p.double().log_softmax(1)
    log_q = logits_q.double().log_softmax(1)
    return float((log_p.exp() * (log_p - log_q)).sum(1).mean())


def entropy(probs: Tensor) -> Tensor:
    """Shannon entropy (nats) of each row of ``probs`` (0·log 0 = 0)."""
    return -(probs * probs.clamp_min(1e-300).log()).sum(-1)


def input_exposed_information(logits: Tensor) -> float:
    """I(X; Ŷ) ≈ H(mean_i p_i) − mean_i H(p_i) over the samples of ``logits`` (N, C), in nats."""
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"need (N, C) logits with N > 0, got {tuple(logits.shape)}")
    p = logits.double().softmax(1)
    return float(entropy(p.mean(0)) - entropy(p).mean())


def _chunked(logits: Tensor, chunk_size: int | None) -> tuple[Tensor, ...]:
    size = chunk_size or logits.shape[0]
    if logits.shape[0] % size:
        raise ValueError(f"chunk size {size} does not divide the {logits.shape[0]} outputs of the step")
    return logits.split(size)


def chunk_information(logits: Tensor, chunk_size: int | None = None) -> float:
    """Mean over chunks of I(X; Ŷ) within each chunk (the whole batch when ``chunk_size`` is None)."""
    return sum(input_exposed_information(c) for c in _chunked(logits, chunk_size)) / (
        logits.shape[0] // (chunk_size or logits.shape[0])
    )


def step_forgetting(stats: StepStats, chunk_size: int | None = None) -> dict[str, float]:
    """The estimators for one step's ``StepStats`` (perturbed ones NaN when there was no perturbation), each
    chunk of ``chunk_size`` samples against its own clean outputs, averaged over chunks."""
    nan = float("nan")
    info_clean = chunk_information(stats.logits, chunk_size)
    row = {
        "loss": stats.loss,
        "perturbed_loss": nan,
        "loss_increase": nan,
        "output_kl": nan,
        "info_clean": info_clean,
        "info_perturbed": nan,
        "info_drop": nan,
        "perturbation_norm": nan if stats.perturbation_norm is None else stats.perturbation_norm,
        "rho": nan if stats.rho is None else stats.rho,
    }
    if stats.perturbed_loss is not None:
        row["perturbed_loss"] = stats.perturbed_loss
        row["loss_increase"] = stats.perturbed_loss - stats.loss
    if stats.perturbed_logits is not None:
        pairs = list(zip(_chunked(stats.logits, chunk_size), _chunked(stats.perturbed_logits, chunk_size)))
        row["output_kl"] = sum(kl_divergence(c, p) for c, p in pairs) / len(pairs)
        row["info_perturbed"] = chunk_information(stats.perturbed_logits, chunk_size)
        row["info_drop"] = info_clean - row["info_perturbed"]
    return row


@dataclass
class ForgettingRecorder(StepRecorder):
    """``on_step(update, stats)`` callback: records the estimators every ``every`` updates, per chunk of
    ``chunk_size`` samples (the optimizer's m; None = the whole micro-batch is one chunk)."""

    COLUMNS: ClassVar[list[str]] = COLUMNS
    chunk_size: int | None = None

    def measure(self, stats: StepStats) -> dict[str, float]:
        return step_forgetting(stats, self.chunk_size)

    def summary(self) -> dict[str, float]:
        """Trajectory means, one number per estimator (``forgetting_<name>``); NaN when never measured."""
        return {**self.means(SUMMARY_COLUMNS, "forgetting_"), "forgetting_steps": len(self.rows)}
