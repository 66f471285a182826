"""The training loop: epochs of ``forward_backward`` + ``step`` with per-update LR (and ρ) schedules.

Kedro-free: takes a ``PreparedData`` and three plain config dicts (model, optimizer, training) and
returns a checkpoint dict and the per-epoch history, so a notebook or script can call it directly.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from timm.scheduler import create_scheduler_v2
from tqdm.auto import tqdm

from samlab.data.loader import make_loader
from samlab.data.prepared import PreparedData
from samlab.evaluate.metrics import evaluate
from samlab.models import create_model
from samlab.optim import create_optimizer
from samlab.train.losses import create_loss

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything the loop needs besides the model and optimizer (``parameters_training.yml: training``)."""

    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    accum_steps: int = 1
    loss: str = "ce"
    label_smoothing: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: int = 0
    min_lr: float = 0.0
    warmup_lr: float = 0.0
    eval_batch_size: int = 512
    device: str = "auto"
    progress: bool | None = None  # None: a bar on a TTY, plain log lines otherwise
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {self.accum_steps}")

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(**{k: v for k, v in cfg.items() if k in known}, extra={k: v for k, v in cfg.items() if k not in known})


@dataclass
class TrainResult:
    checkpoint: dict[str, Any]  # {"model_config", "state_dict", ...}: loads with weights_only=True
    history: list[dict[str, float]]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_config_for(model_cfg: dict[str, Any], data: PreparedData) -> dict[str, Any]:
    """The model's full constructor config: the user's, sized for the data's classes/channels/size."""
    c, h, w = data.image_shape
    cfg = dict(model_cfg)
    cfg.setdefault("num_classes", data.num_classes)
    cfg.setdefault("in_chans", c)
    cfg.setdefault("img_size", h if h == w else [h, w])  # dominoes are (2S, S)
    return cfg


def train(
    data: PreparedData, model_cfg: dict[str, Any], optimizer_cfg: dict[str, Any], train_cfg: dict[str, Any] | TrainConfig,
    name: str = "model",
) -> TrainResult:
    """Train one model with one optimizer variant; returns its checkpoint and per-epoch history."""
    cfg = train_cfg if isinstance(train_cfg, TrainConfig) else TrainConfig.from_dict(train_cfg)
    opt_cfg = dict(optimizer_cfg)
    opt_name = opt_cfg.pop("name")
    device = resolve_device(cfg.device)
    full_model_cfg = model_config_for(model_cfg, data)

    torch.manual_seed(cfg.seed)
    model = create_model(**full_model_cfg).to(device)
    optimizer = create_optimizer(opt_name, model, **opt_cfg)  # validates the config before any work
    loss_fn = create_loss(cfg.loss, cfg.label_smoothing)

    loader = make_loader(data, "train", cfg.batch_size * cfg.accum_steps, train=True, seed=cfg.seed, device=device,
                         augment=cfg.extra.get("augment"))
    val_split = "val" if "val" in data.splits or "val" in data.extra.get("split_dirs", {}) else "test"
    val_loader = make_loader(data, val_split, cfg.eval_batch_size, device=device)
    updates_per_epoch = len(loader)
    scheduler, _ = create_scheduler_v2(
        optimizer, sched=cfg.schedule, num_epochs=max(cfg.epochs, 1), warmup_epochs=cfg.warmup_epochs,
        min_lr=cfg.min_lr, warmup_lr=cfg.warmup_lr, step_on_epochs=False, updates_per_epoch=updates_per_epoch,
    )
    show_bar = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    history: list[dict[str, float]] = []
    num_updates = 0
    for epoch in range(cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        sums = {"loss": 0.0, "perturbed_loss": 0.0, "correct": 0.0, "n": 0, "rho": 0.0}
        bar = tqdm(loader, desc=f"{name} epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not show_bar)
        for inputs, targets in bar:
            for x, y in zip(inputs.chunk(cfg.accum_steps), targets.chunk(cfg.accum_steps)):
                stats = optimizer.forward_backward(model, x, y, loss_fn, accum_steps=cfg.accum_steps)
                if not math.isfinite(stats.loss):
                    raise FloatingPointError(f"{name}: non-finite training loss {stats.loss} at epoch {epoch + 1}, update {num_updates}")
                k = y.shape[0]
                sums["loss"] += stats.loss * k
                sums["perturbed_loss"] += (stats.perturbed_loss if stats.perturbed_loss is not None else float("nan")) * k
                sums["correct"] += float(stats.logits.argmax(1).eq(y).sum())
                sums["n"] += k
                sums["rho"] += (stats.rho or 0.0) * k
            lr = optimizer.lr
            optimizer.step()
            num_updates += 1
            scheduler.step_update(num_updates)
            bar.set_postfix(loss=f"{sums['loss'] / sums['n']:.4f}", acc=f"{sums['correct'] / sums['n']:.3f}")
        elapsed = time.perf_counter() - t0
        val = evaluate(model, val_loader)
        row = {
            "epoch": epoch + 1,
            "train_loss": sums["loss"] / sums["n"],
            "train_accuracy": sums["correct"] / sums["n"],
            "perturbed_loss": sums["perturbed_loss"] / sums["n"],
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "lr": lr,
            "rho": sums["rho"] / sums["n"],
            "epoch_time_s": elapsed,
            "step_time_s": elapsed / updates_per_epoch,
            "images_per_s": sums["n"] / elapsed,
        }
        history.append(row)
        log.info("%s epoch %d/%d train_loss %.4f train_acc %.3f val_loss %.4f val_acc %.3f (%.1f img/s)",
                 name, epoch + 1, cfg.epochs, row["train_loss"], row["train_accuracy"], row["val_loss"],
                 row["val_accuracy"], row["images_per_s"])
    checkpoint = {
        "model_config": full_model_cfg,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_config": dict(optimizer_cfg),
        "epochs": cfg.epochs,
    }
    return TrainResult(checkpoint=checkpoint, history=history)
