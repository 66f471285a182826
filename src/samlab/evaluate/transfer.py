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
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from samlab.data.loader import make_loader
from samlab.data.prepared import PreparedData
from samlab.device import resolve_device
from samlab.evaluate.metrics import evaluate
from samlab.evaluate.probes import extract_features, linear_probe
from samlab.evaluate.test_sets import resize_images
from samlab.models import model_from_checkpoint

log = logging.getLogger(__name__)

RELABELLINGS: dict[str, tuple[Callable[[Tensor], Tensor], list[str]]] = {
    "parity": (lambda y: y % 2, ["even", "odd"]),
    "at_least_5": (lambda y: (y >= 5).long(), ["below_5", "at_least_5"]),
}


def make_target(source: PreparedData, name: str, input: dict[str, Any] | None = None, **cfg: Any) -> PreparedData:
    """The target task: a relabelling of ``source`` (``RELABELLINGS``) or a ``samlab.data`` data set by name.

    ``input: {size, crop_pct, train_scale}`` shows a tensor target at a model's input size (CIFAR at 224 px
    for an ImageNet model: paper 1's fine-tuning), see ``samlab.data.make_loader``.
    """
    target = _make_target(source, name, **cfg)
    if input:
        if target.kind != "images":
            raise ValueError(f"`input` resizes tensor images; target {target.name} holds {target.kind}")
        target.extra["input"] = {
            "size": int(input["size"]),
            "crop_pct": float(input.get("crop_pct", 0.875)),
            "train_scale": [float(v) for v in input.get("train_scale", (0.08, 1.0))],
            "hflip": float(input.get("hflip", 0.5)),
        }
    return target


def _make_target(source: PreparedData, name: str, **cfg: Any) -> PreparedData:
    if name in RELABELLINGS and source.kind == "stream":
        raise ValueError(
            f"target {name!r} relabels the source's own images, but {source.name} is streamed from "
            f"folders: name a data set as the target instead, e.g. `target: {{name: cifar10}}`"
        )
    if name in RELABELLINGS:
        relabel, classes = RELABELLINGS[name]
        if name == "at_least_5" and source.num_classes != 10:
            raise ValueError(f"target {name!r} relabels 10 digit classes; {source.name} has {source.num_classes}")
        splits = {s: (x, relabel(y)) for s, (x, y) in source.splits.items() if not s.endswith("_only_test")}
        return PreparedData(f"{source.name}-{name}", splits, source.mean, source.std, classes, {"relabelling": name})
    from samlab.data import DATASETS, prepare_dataset

    if name not in DATASETS:
        raise ValueError(
            f"unknown transfer target {name!r}: not a relabelling ({sorted(RELABELLINGS)}) nor a data set "
            f"({sorted(DATASETS)})"
        )
    return prepare_dataset(name, **cfg)


# Keys of a fine-tuning recipe that are not training settings (the rest go to samlab.train.train).
RECIPE_KEYS = ("optimizer", "source", "checkpoint", "model")


@dataclass
class FinetuneConfig:
    """One fine-tuning run (``parameters_transfer.yml: transfer.finetune.<recipe>``).

    ``optimizer``: any registry optimizer config; ``source``: the training variant(s) whose checkpoint this
    recipe fine-tunes (null: every variant); ``checkpoint``: a checkpoint file to fine-tune instead of the
    variant's; ``model``: model config overrides; every other key is a ``samlab.train`` training setting
    (epochs, batch_size, schedule, warmup_epochs, min_lr, loss, label_smoothing, accum_steps, seed, ...).
    """

    optimizer: dict[str, Any]
    source: str | list[str] | None = None
    checkpoint: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> FinetuneConfig:
        if "optimizer" not in cfg or "name" not in (cfg["optimizer"] or {}):
            raise ValueError(f"a fine-tuning recipe needs `optimizer: {{name: ..., lr: ...}}`, got {cfg}")
        training = {
            "epochs": 5,
            "batch_size": 64,
            "schedule": "cosine",
            "warmup_epochs": 0,
            "eval_batch_size": 512,
            "progress": False,
            **{k: v for k, v in cfg.items() if k not in RECIPE_KEYS},
        }
        return cls(
            optimizer=dict(cfg["optimizer"]),
            source=cfg.get("source"),
            checkpoint=cfg.get("checkpoint"),
            model=dict(cfg.get("model") or {}),
            training=training,
        )

    def applies_to(self, variant: str) -> bool:
        if self.source is None:
            return True
        return variant in ([self.source] if isinstance(self.source, str) else list(self.source))


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
    return PreparedData(
        "_", {}, tuple(mean[:channels]), tuple(std[:channels]), target.class_names, {"image_shape": [channels, 1, 1]}
    ).normalise


def load_checkpoint(source: dict[str, Any] | str) -> dict[str, Any]:
    """A model checkpoint dict as the training stage saves it, given as is or as a file path."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"pre-trained checkpoint {path} not found (a training run writes data/06_models/<run>/model.pt)"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def finetune(
    checkpoint: dict[str, Any] | str, target: PreparedData, recipe: FinetuneConfig | dict[str, Any], name: str = "model"
) -> dict[str, Any]:
    """Fine-tune all weights of ``checkpoint`` (a dict or a file) on ``target``'s train split with a fresh head,
    through the training loop (``samlab.train.train``: its schedules, clipping, m-chunking, DDP); test metrics.

    The model keeps the source's architecture and input size; a tensor target of another size is shown at
    that size by the loader (``extra["input"]``: RandomResizedCrop + flip when training, centre crop else).
    """
    from samlab.train import train

    cfg = recipe if isinstance(recipe, FinetuneConfig) else FinetuneConfig.from_dict(recipe)
    source = load_checkpoint(cfg.checkpoint or checkpoint)
    model_cfg = {k: v for k, v in source["model_config"].items() if k != "num_classes"}
    model_cfg.update(cfg.model)
    size = model_cfg.get("img_size")
    if target.kind == "images" and size and tuple(target.image_shape[1:]) != (int(size), int(size)):
        raise ValueError(
            f"target {target.name} is {target.image_shape[1:]} px, the source model takes {size}: set "
            f"`input: {{size: {size}, crop_pct: 0.875, train_scale: [0.05, 1.0]}}` in the target config"
        )
    t0 = time.perf_counter()
    result = train(target, model_cfg, cfg.optimizer, cfg.training, name=f"{name}→{target.name}", init_from=source)
    elapsed = time.perf_counter() - t0
    device = resolve_device(cfg.training.get("device", "auto"))
    model = model_from_checkpoint(result.checkpoint).to(device)
    scores = evaluate(model, make_loader(target, "test", int(cfg.training.get("eval_batch_size", 512)), device=device))
    log.info("%s fine-tuned on %s: test accuracy %.4f (%.1f s)", name, target.name, scores["accuracy"], elapsed)
    last = result.history[-1] if result.history else {}
    return {
        "accuracy": scores["accuracy"],
        "nll": scores["loss"],
        "ece": scores["ece"],
        "n": scores["n"],
        "train_loss": last.get("train_loss", float("nan")),
        "epochs": int(cfg.training["epochs"]),
        "time_s": elapsed,
    }


def probe(
    checkpoint: dict[str, Any],
    target: PreparedData,
    C: float = 1.0,
    max_iter: int = 1000,
    batch_size: int = 512,
    device: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
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


def transfer_table(
    checkpoint: dict[str, Any],
    target: PreparedData | dict[str, PreparedData],
    finetune_recipes: dict[str, dict[str, Any]],
    linear_probe_cfg: dict[str, Any] | None,
    source_name: str,
) -> list[dict[str, Any]]:
    """One row per target × method: ``finetune_<recipe>`` for each recipe whose ``source`` is this model
    (or unset), then ``linear_probe`` if configured (tensor targets)."""
    targets = target if isinstance(target, dict) else {target.name: target}
    recipes = {k: FinetuneConfig.from_dict(v) for k, v in (finetune_recipes or {}).items()}
    rows = []
    for tgt in targets.values():
        base = {
            "model": source_name,
            "source_optimizer": checkpoint.get("optimizer_config", {}).get("name", ""),
            "target": tgt.name,
        }
        for recipe_name, cfg in recipes.items():
            if not cfg.applies_to(source_name):
                continue
            rows.append(
                {
                    **base,
                    "method": f"finetune_{recipe_name}",
                    "finetune_optimizer": cfg.optimizer["name"],
                    **finetune(checkpoint, tgt, cfg, name=source_name),
                }
            )
        if linear_probe_cfg is not None and tgt.kind != "stream":
            rows.append(
                {
                    **base,
                    "method": "linear_probe",
                    "finetune_optimizer": "",
                    **probe(checkpoint, tgt, **linear_probe_cfg),
                }
            )
    return rows


__all__ = [
    "RELABELLINGS",
    "FinetuneConfig",
    "finetune",
    "load_checkpoint",
    "make_target",
    "match_inputs",
    "probe",
    "transfer_table",
]
