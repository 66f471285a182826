"""The training loop: epochs of ``forward_backward`` + ``step`` with per-update LR (and ρ) schedules.

Kedro-free: takes a ``PreparedData`` and three plain config dicts (model, optimizer, training) and
returns a checkpoint dict and the per-epoch history, so a notebook or script can call it directly.
With a ``CheckpointStore`` it saves the full training state after every epoch (and, if asked, every N
updates / T minutes, and on SIGTERM/SIGINT), and with ``resume: true`` continues from the newest one
exactly where an uninterrupted run would be, mid-epoch included. With a ``logging`` block it reports
per-update and per-epoch metrics to DVCLive / TensorBoard / W&B (``samlab.train.tracking``).
Under ``torchrun`` it trains data-parallel (``samlab.train.distributed``). See docs/training.md.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import timm
import torch
from timm.scheduler import create_scheduler_v2
from tqdm.auto import tqdm

from samlab.data.loader import make_loader
from samlab.data.prepared import PreparedData
from samlab.device import resolve_device
from samlab.evaluate.metrics import evaluate
from samlab.models import create_model, load_backbone
from samlab.optim import OPTIMIZERS, StepStats, create_optimizer
from samlab.train import distributed
from samlab.train.allocator import retain_freed_memory
from samlab.train.checkpoint import FORMAT, CheckpointStore, check_compatible, rng_state, seed_everything, set_rng_state
from samlab.train.losses import create_loss
from samlab.train.meters import NonFiniteLoss, PendingLosses, Sums
from samlab.train.preemption import Preempted, StopRequest
from samlab.train.tracking import LoggingConfig, check_installed, create_tracker

log = logging.getLogger(__name__)

AMP_DTYPES = {None: None, "none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# Per-update LR schedules, all timm's: name -> (timm scheduler, extra arguments). "linear" is timm's
# polynomial decay with power 1. Warm-up (linear from warmup_lr) comes first, then the decay to min_lr.
SCHEDULES: dict[str, tuple[str, dict[str, Any]]] = {
    "cosine": ("cosine", {}),
    "linear": ("poly", {"decay_rate": 1.0}),
    "tanh": ("tanh", {}),
    "poly": ("poly", {}),  # power = decay_rate
}


@dataclass
class TrainConfig:
    """Everything the loop needs besides the model and optimizer (``parameters_training.yml: training``)."""

    epochs: int = 10
    batch_size: int = 64  # global micro-batch: split over DDP ranks, times accum_steps per update
    seed: int = 0
    accum_steps: int = 1
    loss: str = "ce"
    label_smoothing: float = 0.0
    schedule: str = "cosine"  # cosine | linear | tanh | poly (timm's), stepped every update
    decay_rate: float | None = None  # poly's power (linear = poly with 1.0)
    warmup_epochs: int = 0
    min_lr: float = 0.0
    warmup_lr: float = 0.0
    eval_batch_size: int = 512
    device: str = "auto"
    progress: bool | None = None  # None: bars on a TTY, plain log lines otherwise
    resume: bool = False  # continue from the newest checkpoint of the store, if any
    amp: str | None = None  # "bf16": autocast both passes; "fp16": autocast + gradient scaler (skips overflows)
    channels_last: bool = False
    compile: bool = False  # torch.compile the model (GPU runs)
    deterministic: bool = False  # torch.use_deterministic_algorithms (GPU; CPU is deterministic already)
    retain_freed_memory: bool = True  # CPU: glibc keeps freed tensor memory for the next step (train/allocator.py)
    augment: dict[str, Any] | None = (
        None  # batched on-device augmentation (samlab.data.augment), e.g. {crop_padding: 4, hflip: true}
    )
    checkpoint_every_n_updates: int | None = None  # also checkpoint inside epochs, every N updates
    checkpoint_every_minutes: float | None = None  # ... and/or every T minutes of wall-clock time
    logging: dict[str, Any] | None = None  # live metrics (samlab.train.tracking.LoggingConfig); None: none
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {self.accum_steps}")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if self.amp not in AMP_DTYPES:
            raise ValueError(f"amp must be one of {[k for k in AMP_DTYPES if k]} or null, got {self.amp!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {sorted(SCHEDULES)}")
        n = self.checkpoint_every_n_updates
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ValueError(f"checkpoint_every_n_updates must be an integer >= 1 or null, got {n!r}")
        t = self.checkpoint_every_minutes
        if t is not None and not (isinstance(t, (int, float)) and t > 0):
            raise ValueError(f"checkpoint_every_minutes must be > 0 or null, got {t!r}")
        if self.logging is not None:
            self.logging = LoggingConfig.from_dict(self.logging).as_dict()  # unknown keys, bad backends: here

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        from samlab.config.problems import raise_unknown_keys  # lazy: the one upward edge (docs/architecture.md)

        raise_unknown_keys("training", cfg, known)  # a typo (`epoch: 1`) must not train the default epochs
        return cls(**cfg)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "extra"}


@dataclass
class TrainResult:
    checkpoint: dict[str, Any]  # {"model_config", "state_dict", ...}: loads with weights_only=True
    history: list[dict[str, float]]
    updates: list[dict[str, float]] = field(default_factory=list)  # one row every logging.every_n_updates


def model_config_for(model_cfg: dict[str, Any], data: PreparedData) -> dict[str, Any]:
    """The model's full constructor config: the user's, sized for the data's classes/channels/size."""
    c, h, w = data.image_shape
    cfg = dict(model_cfg)
    cfg.setdefault("num_classes", data.num_classes)
    cfg.setdefault("in_chans", c)
    cfg.setdefault("img_size", h if h == w else [h, w])  # dominoes are (2S, S)
    return cfg


def validate(
    data: PreparedData, model_cfg: dict[str, Any], optimizer_cfg: dict[str, Any], cfg: TrainConfig, world_size: int = 1
) -> None:
    """Every check that needs no model: bad configurations fail here, before any work, with the reason."""
    name = model_cfg.get("name")
    if not name or not timm.is_model(name):
        raise ValueError(f"unknown model {name!r}: not a timm architecture (see timm.list_models())")
    opt = optimizer_cfg.get("name")
    if opt not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {opt!r}; known: {sorted(OPTIMIZERS)}")
    for key in ("rho", "rho_max", "rho_min"):
        rho = optimizer_cfg.get(key)
        if isinstance(rho, (int, float)) and not rho >= 0:
            raise ValueError(f"optimizer {opt!r}: {key} must be >= 0, got {rho}")
    if cfg.batch_size % world_size:
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the {world_size} DDP ranks")
    per_rank = cfg.batch_size // world_size
    m = optimizer_cfg.get("perturbation_batch_size")
    if m is not None and (m < 1 or per_rank % m):
        raise ValueError(
            f"optimizer {opt!r}: perturbation_batch_size m={m} must divide the per-rank micro-batch "
            f"{per_rank} (batch_size {cfg.batch_size} / {world_size} ranks)"
        )
    if data.kind == "stream":
        splits = data.extra.get("split_dirs", {})
        n_train = data.extra.get("counts", {}).get("train", 0)
    else:
        splits = data.splits
        n_train = data.splits["train"][0].shape[0] if "train" in splits else 0
    if "train" not in splits:
        raise ValueError(f"prepared data {data.name!r} has no train split (splits: {list(splits)})")
    if n_train < cfg.batch_size * cfg.accum_steps:
        raise ValueError(
            f"one update needs batch_size x accum_steps = {cfg.batch_size * cfg.accum_steps} samples "
            f"but the train split has {n_train}"
        )
    create_loss(cfg.loss, cfg.label_smoothing)  # unknown loss / bad smoothing
    if cfg.logging is not None:
        check_installed(LoggingConfig.from_dict(cfg.logging))  # a missing optional package, named with its extra


def _finite_params(model: torch.nn.Module) -> bool:
    norms = torch._foreach_norm([p.detach() for p in model.parameters()])
    return bool(torch.isfinite(torch.stack(norms)).all())


def train(
    data: PreparedData,
    model_cfg: dict[str, Any],
    optimizer_cfg: dict[str, Any],
    train_cfg: dict[str, Any] | TrainConfig,
    name: str = "model",
    checkpoints: CheckpointStore | None = None,
    on_step: Callable[[int, StepStats], None] | None = None,
    init_from: dict[str, Any] | None = None,
) -> TrainResult:
    """Train one model with one optimizer variant; returns its final checkpoint and per-epoch history.

    ``on_step(update, stats)``, if given, sees every micro-batch's ``StepStats`` (asked with
    ``return_outputs=True``, with the micro-batch's ``targets``), e.g. ``samlab.analysis.ForgettingRecorder``
    or ``BalanceRecorder``; ``update`` counts from 1. (Its own state is not checkpointed: a resumed run's
    recorder sees only the updates after the checkpoint.)

    With ``checkpoints``, SIGTERM/SIGINT save the state at the next update boundary and end the process
    with ``Preempted`` (a ``SystemExit``, code 128 + signal); ``training.checkpoint_every_n_updates`` /
    ``checkpoint_every_minutes`` add checkpoints inside epochs. ``TrainResult.updates`` holds one row
    every ``training.logging.every_n_updates`` updates (50 without a logging block).
    ``init_from``, if given, is a pre-trained model checkpoint (``{"model_config", "state_dict"}``) whose weights
    start the run, all but the classifier, which stays freshly initialised (fine-tuning, ``samlab.evaluate.transfer``).
    """
    from samlab.config.validate import check_train_inputs  # lazy: the one upward edge (docs/architecture.md)

    check_train_inputs(
        model_cfg, optimizer_cfg, train_cfg.as_dict() if isinstance(train_cfg, TrainConfig) else train_cfg, name
    )
    cfg = train_cfg if isinstance(train_cfg, TrainConfig) else TrainConfig.from_dict(train_cfg)
    opt_cfg = dict(optimizer_cfg)
    opt_name = opt_cfg.pop("name", None)
    if opt_cfg.get("rho_schedule") == "lr_prop":  # ρ ∝ LR between the run's own LR bounds unless given
        opt_cfg.setdefault("lr_min", cfg.min_lr)
    dist_info, device = distributed.init_from_env(resolve_device(cfg.device))
    full_model_cfg = model_config_for(model_cfg, data)
    validate(data, full_model_cfg, optimizer_cfg, cfg, dist_info.world_size)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if cfg.retain_freed_memory and device.type == "cpu":
        retain_freed_memory()

    seed_everything(cfg.seed)
    model = create_model(**full_model_cfg)
    if init_from is not None:  # fine-tuning: pre-trained weights, a new head
        load_backbone(model, init_from)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    amp_dtype = AMP_DTYPES[cfg.amp]
    if amp_dtype is torch.float16:  # the wrapper scales both backward passes and skips non-finite updates
        opt_cfg["grad_scaler"] = torch.amp.GradScaler(device.type)
    optimizer = create_optimizer(opt_name, model, **opt_cfg)  # validates the optimizer's own settings
    loss_fn = create_loss(cfg.loss, cfg.label_smoothing)

    loader = make_loader(
        data,
        "train",
        cfg.batch_size * cfg.accum_steps,
        train=True,
        seed=cfg.seed,
        device=device,
        augment=cfg.augment,
        accum_steps=cfg.accum_steps,
    )
    per_rank = bool(getattr(loader, "per_rank", False))  # streamed folders: each rank loads only its share
    val_split = "val" if "val" in data.splits or "val" in data.extra.get("split_dirs", {}) else "test"
    val_loader = make_loader(data, val_split, cfg.eval_batch_size, device=device)
    loader_rng = _generator(loader)  # the shuffling (and augmentation) stream, checkpointed for resume
    updates_per_epoch = len(loader)
    sched, sched_args = SCHEDULES[cfg.schedule]
    if cfg.decay_rate is not None:
        sched_args = {**sched_args, "decay_rate": cfg.decay_rate}
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched=sched,
        num_epochs=max(cfg.epochs - cfg.warmup_epochs, 1),
        warmup_epochs=cfg.warmup_epochs,
        warmup_prefix=True,  # warm-up first, then the decay over the remaining epochs
        min_lr=cfg.min_lr,
        warmup_lr=cfg.warmup_lr,
        step_on_epochs=False,
        updates_per_epoch=updates_per_epoch,
        **sched_args,
    )

    # Resume (or start over) before any training work: a wrong checkpoint fails here.
    history: list[dict[str, float]] = []
    updates_log: list[dict[str, float]] = []
    start_epoch, start_batch, num_updates = 0, 0, 0
    partial: dict[str, Any] | None = None
    state = None
    if checkpoints is not None:
        if dist_info.is_main:
            checkpoints.remove_stale_temps()
        state = checkpoints.latest() if cfg.resume else None
        if state is not None:
            source = f"checkpoint {checkpoints.file(int(state['epoch']), int(state.get('batch', 0)))}"
            check_compatible(state, full_model_cfg, dict(optimizer_cfg), cfg.as_dict(), source)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"], loader_rng)  # mid-epoch: the loader's state at the start of that epoch
            history = [dict(row) for row in state["history"]]
            updates_log = [dict(row) for row in state.get("updates", [])]
            start_epoch, num_updates = int(state["epoch"]), int(state["num_updates"])
            start_batch, partial = int(state.get("batch", 0)), state.get("partial")
            log.info(
                "%s: resuming after epoch %d/%d%s from %s",
                name,
                start_epoch,
                cfg.epochs,
                f" and {start_batch}/{updates_per_epoch} updates of the next" if start_batch else "",
                source,
            )
        elif dist_info.is_main and checkpoints.positions():
            log.info("%s: starting over (resume: false), removing old checkpoints in %s", name, checkpoints.path)
            checkpoints.clear()

    if checkpoints is None and (cfg.checkpoint_every_n_updates or cfg.checkpoint_every_minutes):
        log.warning("%s: checkpoint_every_* is set but no checkpoint store was given: nothing will be saved", name)
    log_cfg = LoggingConfig.from_dict(cfg.logging) if cfg.logging is not None else None
    every_n = log_cfg.every_n_updates if log_cfg is not None else 50  # also how often the losses are checked
    net = distributed.wrap(model, dist_info, device)
    if cfg.compile:
        net = torch.compile(net)

    # rank 0's live metrics; a resumed run continues its curves after the checkpoint's update
    tracker = create_tracker(
        log_cfg,
        name,
        is_main=dist_info.is_main,
        resume_step=num_updates if state else None,
        state=state.get("tracking") if state else None,
        config={"model": full_model_cfg, "optimizer": dict(optimizer_cfg), "training": cfg.as_dict()},
    )

    def save(epoch: int, batch: int, epoch_loader_state, partial_state) -> Any:
        """Rank 0 writes the full state: ``epoch`` finished epochs and ``batch`` updates of the next."""
        if checkpoints is None or not dist_info.is_main:
            return None
        rng = rng_state(None)
        if epoch_loader_state is not None:
            rng["loader"] = epoch_loader_state
        return checkpoints.save(
            {
                "format": FORMAT,
                "model_config": full_model_cfg,
                "optimizer_config": dict(optimizer_cfg),
                "train_config": cfg.as_dict(),
                "epoch": epoch,
                "batch": batch,
                "num_updates": num_updates,
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng,
                "history": history,
                "partial": partial_state,
                "updates": updates_log,
                "tracking": tracker.state(),
            }
        )

    pending = PendingLosses()
    show_bar = dist_info.is_main and (sys.stderr.isatty() if cfg.progress is None else bool(cfg.progress))
    epochs_bar = tqdm(
        range(start_epoch, cfg.epochs),
        initial=start_epoch,
        total=cfg.epochs,
        desc=name,
        disable=not show_bar,
        position=0,
    )
    last_save = time.monotonic()
    stopping = False
    try:
        with StopRequest(name) if checkpoints is not None else nullcontext() as stop:
            for epoch in epochs_bar:
                resumed = partial if epoch == start_epoch and start_batch else None
                skip = start_batch if resumed else 0
                epoch_loader_state = loader_rng.get_state() if loader_rng is not None else None
                sums = Sums(EPOCH_KEYS, resumed and resumed["sums"])
                interval = Sums(INTERVAL_KEYS, resumed and resumed["interval"])
                elapsed_before = float(resumed["elapsed"]) if resumed else 0.0
                lr = float(resumed["lr"]) if resumed else optimizer.lr
                model.train()
                t0 = t_interval = time.perf_counter()
                batches = iter(loader)
                for _ in range(skip):  # replay the loader (and its random draws) up to the checkpoint
                    next(batches)
                bar = tqdm(
                    batches,
                    desc=f"epoch {epoch + 1}/{cfg.epochs}",
                    leave=False,
                    disable=not show_bar,
                    position=1,
                    initial=skip,
                    total=updates_per_epoch,
                )
                for batch, (inputs, targets) in enumerate(bar, start=skip):
                    for x, y in zip(inputs.chunk(cfg.accum_steps), targets.chunk(cfg.accum_steps)):
                        if not per_rank:
                            x, y = distributed.shard(x, dist_info), distributed.shard(y, dist_info)
                        if cfg.channels_last and x.ndim == 4:
                            x = x.contiguous(memory_format=torch.channels_last)
                        stats = optimizer.forward_backward(
                            net,
                            x,
                            y,
                            loss_fn,
                            accum_steps=cfg.accum_steps,
                            autocast=amp_dtype,
                            return_outputs=on_step is not None,
                        )
                        k = y.shape[0]
                        sums.add("images", k)
                        interval.add("images", k)
                        if stats.overflow:  # fp16 only (a device flag; False otherwise): the scaler skips this update
                            continue
                        if on_step is not None:
                            on_step(num_updates + 1, dataclasses.replace(stats, targets=y))
                        # the unread device values (StepStats converts a field to a number when it is read)
                        loss, perturbed, rho, norm = (
                            stats.raw(f) for f in ("loss", "perturbed_loss", "rho", "perturbation_norm")
                        )
                        pending.add(num_updates + 1, loss, perturbed)
                        sums.add("loss", loss, k)
                        sums.add("perturbed_loss", math.nan if perturbed is None else perturbed, k)
                        sums.add("correct", stats.logits.argmax(1).eq(y).sum())
                        sums.add("seen", k)
                        sums.add("rho", 0.0 if rho is None else rho, k)
                        for key, value in (("loss", loss), ("perturbed_loss", perturbed), ("rho", rho)):
                            interval.add(key, value, k)  # None (plain SGD): not counted
                            interval.add(f"seen_{key}", 0 if value is None else k)
                        interval.add("perturbation_norm", norm)
                        interval.add("micro", 0 if norm is None else 1)
                    lr = optimizer.lr
                    optimizer.step()
                    sums.add("skipped", getattr(optimizer, "last_step_skipped", False))  # fp16; may be a tensor
                    num_updates += 1
                    scheduler.step_update(num_updates)
                    if num_updates % every_n == 0:  # the one host sync of the interval
                        pending.check()
                        now = time.perf_counter()
                        row = _update_row(interval.read(), num_updates, updates_per_epoch, lr, now - t_interval)
                        updates_log.append(row)
                        tracker.log(_tracked(row), num_updates)
                        interval.reset()
                        t_interval = now
                        if dist_info.world_size > 1 and checkpoints is not None:  # every rank stops at the same update
                            flag = torch.tensor([float(stop.requested)], dtype=torch.float64, device=device)
                            stopping = bool(distributed.all_reduce_sum(flag, dist_info).item() > 0)
                        if show_bar:
                            bar.set_postfix(loss=f"{row['train_loss']:.4f}", refresh=False)
                    if checkpoints is not None and dist_info.world_size == 1:
                        stopping = stop.requested
                    if (
                        checkpoints is not None
                        and batch + 1 < updates_per_epoch
                        and (stopping or _due(cfg, num_updates, last_save))
                    ):
                        pending.check()  # never save a state that has gone non-finite
                        path = save(
                            epoch,
                            batch + 1,
                            epoch_loader_state,
                            {
                                "sums": sums.read(),
                                "interval": interval.read(),
                                "lr": lr,
                                "elapsed": elapsed_before + time.perf_counter() - t0,
                            },
                        )
                        last_save = time.monotonic()
                        if stopping:
                            _preempted(stop, name, num_updates, epoch, batch + 1, updates_per_epoch, path)
                pending.check()
                elapsed = elapsed_before + time.perf_counter() - t0
                local = sums.read()
                totals = dict(
                    zip(
                        EPOCH_KEYS,
                        distributed.all_reduce_sum(
                            torch.tensor([local[key] for key in EPOCH_KEYS], dtype=torch.float64, device=device),
                            dist_info,
                        ).tolist(),
                    )
                )
                n_seen = max(totals["seen"], 1.0)  # fp16: every update of the epoch may have overflowed
                val = evaluate(model, val_loader)  # every rank holds the same weights: no collective needed
                if not (math.isfinite(val["loss"]) and _finite_params(model)):
                    raise FloatingPointError(
                        f"{name}: weights or validation loss became non-finite (val loss {val['loss']}) at the end of "
                        f"epoch {epoch + 1}: training stopped; " + _last_good(checkpoints)
                    )
                row = {
                    "epoch": epoch + 1,
                    "train_loss": totals["loss"] / n_seen,
                    "train_accuracy": totals["correct"] / n_seen,
                    "perturbed_loss": totals["perturbed_loss"] / n_seen,
                    "val_loss": val["loss"],
                    "val_accuracy": val["accuracy"],
                    "lr": lr,
                    "rho": totals["rho"] / n_seen,
                    "epoch_time_s": elapsed,
                    "step_time_s": elapsed / updates_per_epoch,
                    "images_per_s": totals["images"] / elapsed,
                    "skipped_updates": int(local["skipped"]),  # this rank's (all ranks skip together)
                }
                history.append(row)
                tracker.log(
                    {
                        "epoch": epoch + 1,
                        "train/accuracy": row["train_accuracy"],
                        "val/loss": row["val_loss"],
                        "val/accuracy": row["val_accuracy"],
                    },
                    num_updates,
                )
                path = save(epoch + 1, 0, loader_rng.get_state() if loader_rng is not None else None, None)
                last_save = time.monotonic()
                epochs_bar.set_postfix(
                    train_loss=f"{row['train_loss']:.4f}", val_acc=f"{row['val_accuracy']:.3f}", refresh=False
                )
                if dist_info.is_main:
                    log.info(
                        "%s epoch %d/%d train_loss %.4f train_acc %.3f val_loss %.4f val_acc %.3f lr %.4g rho %.4g "
                        "(%.1f img/s)",
                        name,
                        epoch + 1,
                        cfg.epochs,
                        row["train_loss"],
                        row["train_accuracy"],
                        row["val_loss"],
                        row["val_accuracy"],
                        row["lr"],
                        row["rho"],
                        row["images_per_s"],
                    )
                if epoch + 1 < cfg.epochs and (
                    stopping or (checkpoints is not None and dist_info.world_size == 1 and stop.requested)
                ):
                    _preempted(stop, name, num_updates, epoch + 1, 0, updates_per_epoch, path)
    except NonFiniteLoss as exc:
        epoch_of = (exc.update - 1) // updates_per_epoch + 1
        raise FloatingPointError(
            f"{name}: non-finite training loss (clean {exc.loss}, perturbed {exc.perturbed}) at epoch {epoch_of}, "
            f"update {exc.update}: training stopped; " + _last_good(checkpoints)
        ) from None
    finally:
        tracker.close()
    epochs_bar.close()
    checkpoint = {
        "model_config": {**full_model_cfg, "pretrained": False},  # the weights are here: rebuilding downloads nothing
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_config": dict(optimizer_cfg),
        "epochs": cfg.epochs,
    }
    return TrainResult(checkpoint=checkpoint, history=history, updates=updates_log)


# Running sums of an epoch (for its history row) and of a logging interval (for its update row).
EPOCH_KEYS = ("loss", "perturbed_loss", "correct", "seen", "rho", "images", "skipped")
INTERVAL_KEYS = (
    "loss",
    "perturbed_loss",
    "rho",
    "perturbation_norm",
    "seen_loss",
    "seen_perturbed_loss",
    "seen_rho",
    "micro",
    "images",
)


def _update_row(
    sums: dict[str, float], update: int, updates_per_epoch: int, lr: float, seconds: float
) -> dict[str, float]:
    """One row of the per-update table: means over the interval's micro-batches, the LR of its last update."""

    def mean(key: str) -> float:
        return sums[key] / sums[f"seen_{key}"] if sums[f"seen_{key}"] else math.nan

    return {
        "update": update,
        "epoch": update / updates_per_epoch,
        "train_loss": mean("loss"),
        "perturbed_loss": mean("perturbed_loss"),
        "rho": mean("rho"),
        "perturbation_norm": sums["perturbation_norm"] / sums["micro"] if sums["micro"] else math.nan,
        "lr": lr,
        "images_per_s": sums["images"] / seconds if seconds > 0 else math.nan,
    }


def _tracked(row: dict[str, float]) -> dict[str, float]:
    """The update row as logged metrics (``train/<name>``); what a plain optimizer has not (ρ, ...) is left out."""
    return {
        f"train/{k.removeprefix('train_')}": v
        for k, v in row.items()
        if k not in ("update", "epoch") and not math.isnan(v)
    }


def _due(cfg: TrainConfig, num_updates: int, last_save: float) -> bool:
    """Whether a mid-epoch checkpoint is due (``checkpoint_every_n_updates`` / ``checkpoint_every_minutes``)."""
    n, minutes = cfg.checkpoint_every_n_updates, cfg.checkpoint_every_minutes
    return bool((n and num_updates % n == 0) or (minutes and time.monotonic() - last_save >= 60.0 * minutes))


def _preempted(
    stop: StopRequest, name: str, num_updates: int, epoch: int, batch: int, updates_per_epoch: int, path
) -> None:
    import signal

    where = f"{batch}/{updates_per_epoch} updates into epoch {epoch + 1}" if batch else f"at the end of epoch {epoch}"
    saved = f"state saved to {path}" if path is not None else "state saved by rank 0"
    message = (
        f"{name}: stopped on {signal.Signals(stop.signum or signal.SIGTERM).name} at update {num_updates} "
        f"({where}); {saved}; rerun with `resume: true` to continue from there"
    )
    log.warning(message)  # without logging configured, Python prints warnings to stderr
    raise Preempted(stop.signum or signal.SIGTERM, message)


def _generator(loader) -> torch.Generator | None:
    """The loader's random generator: a ``TensorLoader``'s own, or the ``DataLoader``'s under a stream."""
    for obj in (loader, getattr(loader, "loader", None)):
        gen = getattr(obj, "generator", None)
        if isinstance(gen, torch.Generator):
            return gen
    return None


def _last_good(checkpoints: CheckpointStore | None) -> str:
    if checkpoints is None:
        return "no checkpoint store was given"
    if not checkpoints.epochs():
        return f"no good checkpoint yet in {checkpoints.path}"
    return f"the last good checkpoint (epoch {checkpoints.epochs()[-1]}) is kept in {checkpoints.path}"
