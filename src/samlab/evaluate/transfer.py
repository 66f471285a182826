"""Transfer: fine-tune a trained checkpoint on a target task with a fresh head, or probe its frozen features.

Paper 1 fine-tunes SAM/OBF ImageNet checkpoints on CIFAR-10/100 (SGD with momentum 0.9, no weight decay,
short warm-up then cosine/linear decay) and also fine-tunes a vanilla checkpoint *with* SAM/OBF, so the
fine-tuning optimizer is chosen by name through ``samlab.optim.create_optimizer``. Paper 2 judges features
with a linear probe (``samlab.evaluate.probes``).

Targets: a data set of ``samlab.data`` by name (``cifar10``, ``cifar100`` … where registered), or a
relabelling of the source's own images for the embedded CPU default (``parity``: even/odd class index,
any number of classes; ``at_least_5``: digit ≥ 5) — a different label task on the same pixels, so no download is needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from timm.scheduler import create_scheduler_v2
from torch import Tensor

from samlab.data.loader import TensorLoader
from samlab.data.prepared import PreparedData
from samlab.device import resolve_device
from samlab.evaluate.metrics import evaluate
from samlab.evaluate.probes import extract_features, linear_probe
from samlab.evaluate.test_sets import resize_images
from samlab.models import model_from_checkpoint
from samlab.optim import create_optimizer
from samlab.train.losses import create_loss

log = logging.getLogger(__name__)

RELABELLINGS: dict[str, tuple[Callable[[Tensor], Tensor], list[str]]] = {
    "parity": (lambda y: y % 2, ["even", "odd"]),
    "at_least_5": (lambda y: (y >= 5).long(), ["below_5", "at_least_5"]),
}


def make_target(source: PreparedData, name: str, **cfg: Any) -> PreparedData:
    """The target task: a relabelling of ``source`` (``RELABELLINGS``) or a ``samlab.data`` data set by name."""
    if name in RELABELLINGS:
        relabel, classes = RELABELLINGS[name]
        if name == "at_least_5" and source.num_classes != 10:
            raise ValueError(f"target {name!r} relabels 10 digit classes; {source.name} has {source.num_classes}")
        splits = {s: (x, relabel(y)) for s, (x, y) in source.splits.items() if not s.endswith("_only_test")}
        return PreparedData(f"{source.name}-{name}", splits, source.mean, source.std, classes, {"relabelling": name})
    from samlab.data import prepare_dataset

    try:
        return prepare_dataset(name, **cfg)
    except ValueError as exc:
        raise ValueError(f"unknown transfer target {name!r}: not a relabelling ({sorted(RELABELLINGS)}) and {exc}") from exc


@dataclass
class FinetuneConfig:
    """One fine-tuning recipe (``parameters_transfer.yml: transfer.finetune.<recipe>``)."""

    optimizer: dict[str, Any]
    epochs: int = 5
    batch_size: int = 64
    schedule: str = "cosine"
    warmup_epochs: int = 0
    min_lr: float = 0.0
    loss: str = "ce"
    label_smoothing: float = 0.0
    seed: int = 0
    eval_batch_size: int = 512
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> FinetuneConfig:
        if "optimizer" not in cfg or "name" not in cfg["optimizer"]:
            raise ValueError(f"a fine-tuning recipe needs `optimizer: {{name: ..., lr: ...}}`, got {cfg}")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(**{k: v for k, v in cfg.items() if k in known}, extra={k: v for k, v in cfg.items() if k not in known})


def match_inputs(images: Tensor, model_config: dict[str, Any]) -> Tensor:
    """Target images in the source model's input format: channels (grey → RGB by repetition) and size."""
    c_model, c = int(model_config.get("in_chans", images.shape[1])), images.shape[1]
    if c != c_model:
        if c == 1 and c_model == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        else:
            raise ValueError(f"target images have {c} channels, the source model takes {c_model}")
    size = model_config.get("img_size")
    return resize_images(images, int(size)) if size else images


def _normalise_for(target: PreparedData, channels: int) -> Callable[[Tensor], Tensor]:
    if len(target.mean) == channels:
        return target.normalise
    mean, std = target.mean * channels, target.std * channels  # grey statistics repeated for RGB inputs
    return PreparedData("_", {}, tuple(mean[:channels]), tuple(std[:channels]), target.class_names).normalise


def finetune(checkpoint: dict[str, Any], target: PreparedData, recipe: FinetuneConfig | dict[str, Any],
             name: str = "model") -> dict[str, Any]:
    """Fine-tune all weights of ``checkpoint`` on ``target``'s train split with a fresh head; test metrics."""
    cfg = recipe if isinstance(recipe, FinetuneConfig) else FinetuneConfig.from_dict(recipe)
    device = resolve_device(cfg.device)
    model_config = checkpoint["model_config"]
    model = model_from_checkpoint(checkpoint)
    torch.manual_seed(cfg.seed)
    model.reset_classifier(target.num_classes)
    model.to(device)
    opt_cfg = dict(cfg.optimizer)
    optimizer = create_optimizer(opt_cfg.pop("name"), model, **opt_cfg)
    loss_fn = create_loss(cfg.loss, cfg.label_smoothing)
    train_x, train_y = target.splits["train"]
    train_x = match_inputs(train_x, model_config)
    normalise = _normalise_for(target, train_x.shape[1])
    loader = TensorLoader(train_x, train_y, min(cfg.batch_size, train_x.shape[0]), normalise, shuffle=True,
                          drop_last=True, seed=cfg.seed, device=device)
    scheduler, _ = create_scheduler_v2(
        optimizer, sched=cfg.schedule, num_epochs=max(cfg.epochs, 1), warmup_epochs=cfg.warmup_epochs,
        min_lr=cfg.min_lr, step_on_epochs=False, updates_per_epoch=len(loader),
    )
    t0, updates, loss_sum, seen = time.perf_counter(), 0, 0.0, 0
    for _ in range(cfg.epochs):
        model.train()
        for x, y in loader:
            stats = optimizer.forward_backward(model, x, y, loss_fn)
            optimizer.step()
            updates += 1
            scheduler.step_update(updates)
            loss_sum, seen = loss_sum + stats.loss * y.shape[0], seen + y.shape[0]
    elapsed = time.perf_counter() - t0
    test_x, test_y = target.splits["test"]
    scores = evaluate(model, TensorLoader(match_inputs(test_x, model_config), test_y, cfg.eval_batch_size, normalise,
                                          device=device))
    log.info("%s fine-tuned on %s: test accuracy %.4f (%.1f s)", name, target.name, scores["accuracy"], elapsed)
    return {"accuracy": scores["accuracy"], "nll": scores["loss"], "ece": scores["ece"], "n": scores["n"],
            "train_loss": loss_sum / max(seen, 1), "epochs": cfg.epochs, "time_s": elapsed}


def probe(checkpoint: dict[str, Any], target: PreparedData, C: float = 1.0, max_iter: int = 1000,
          batch_size: int = 512, device: str = "auto", seed: int = 0) -> dict[str, Any]:
    """Linear probe: frozen pre-logit features of the source model, logistic regression on the target."""
    dev = resolve_device(device)
    model_config = checkpoint["model_config"]
    model = model_from_checkpoint(checkpoint)
    t0 = time.perf_counter()
    feats = {}
    for split in ("train", "test"):
        x, y = target.splits[split]
        x = match_inputs(x, model_config)
        feats[split] = (extract_features(model, x, _normalise_for(target, x.shape[1]), batch_size, dev), y.numpy())
    acc = linear_probe(*feats["train"], *feats["test"], C=C, max_iter=max_iter, seed=seed)
    return {"accuracy": acc, "n": int(feats["test"][1].shape[0]), "time_s": time.perf_counter() - t0}


def transfer_table(checkpoint: dict[str, Any], target: PreparedData, finetune_recipes: dict[str, dict[str, Any]],
                   linear_probe_cfg: dict[str, Any] | None, source_name: str) -> list[dict[str, Any]]:
    """One row per method: ``finetune_<recipe>`` for each recipe, then ``linear_probe`` if configured."""
    base = {"model": source_name, "source_optimizer": checkpoint.get("optimizer_config", {}).get("name", ""),
            "target": target.name}
    rows = []
    for recipe_name, recipe in (finetune_recipes or {}).items():
        cfg = FinetuneConfig.from_dict(recipe)
        rows.append({**base, "method": f"finetune_{recipe_name}", "finetune_optimizer": cfg.optimizer["name"],
                     **finetune(checkpoint, target, cfg, name=source_name)})
    if linear_probe_cfg is not None:
        rows.append({**base, "method": "linear_probe", "finetune_optimizer": "", **probe(checkpoint, target, **linear_probe_cfg)})
    return rows


__all__ = ["FinetuneConfig", "RELABELLINGS", "finetune", "make_target", "match_inputs", "probe", "transfer_table"]

