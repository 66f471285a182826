"""Live training metrics: one small interface, three backends (DVCLive, TensorBoard, Weights & Biases).

The loop calls ``Tracker.log(metrics, step)`` every ``every_n_updates`` updates (and once per epoch for the
validation metrics) with plain floats; ``step`` is the update number, so curves of a resumed run continue
where the checkpoint was (each backend drops what a killed run logged after its last checkpoint).
Only rank 0 builds a real tracker under ``torchrun``.

Configured by the ``training.logging`` block::

    logging:
      backend: dvclive            # dvclive | tensorboard | wandb | none, or a list of them
      every_n_updates: 50
      dir: data/07_model_output/{name}   # {name}: the run (variant); backend B writes <dir>/<B>
      wandb: {project: samlab, entity: null, mode: offline}
"""

from __future__ import annotations

import csv
import difflib
import importlib.util
import io
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# backend -> (module that must import, the samlab extra that installs it)
BACKENDS: dict[str, tuple[str, str]] = {
    "dvclive": ("dvclive", "samlab"),  # a main dependency
    "tensorboard": ("tensorboard", "samlab[tensorboard]"),
    "wandb": ("wandb", "samlab[wandb]"),
}
WANDB_MODES = ("offline", "online", "disabled")


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class WandbConfig:
    project: str = "samlab"
    entity: str | None = None
    mode: str = "offline"  # offline needs no network: `wandb sync <dir>/wandb/offline-run-*` uploads later

    def __post_init__(self) -> None:
        if self.mode not in WANDB_MODES:
            raise ValueError(f"logging.wandb.mode must be one of {list(WANDB_MODES)}, got {self.mode!r}")


@dataclass
class LoggingConfig:
    """The ``training.logging`` block: which backends, how often, where."""

    backend: list[str] = field(default_factory=lambda: ["dvclive"])
    every_n_updates: int = 50
    dir: str = "data/07_model_output/{name}"
    wandb: WandbConfig = field(default_factory=WandbConfig)

    def __post_init__(self) -> None:
        backends = [self.backend] if isinstance(self.backend, str) else list(self.backend or [])
        backends = [b for b in backends if b not in ("none", None)]
        for b in backends:
            if b not in BACKENDS:
                raise ValueError(
                    f"logging.backend: unknown backend {b!r}{_did_you_mean(b, BACKENDS)}; "
                    f"known: {sorted(BACKENDS)} or none"
                )
        self.backend = backends
        if not isinstance(self.every_n_updates, int) or self.every_n_updates < 1:
            raise ValueError(f"logging.every_n_updates must be an integer >= 1, got {self.every_n_updates!r}")
        if isinstance(self.wandb, dict):
            self.wandb = WandbConfig(**_known("logging.wandb", self.wandb, WandbConfig))

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | LoggingConfig | None) -> LoggingConfig:
        if isinstance(cfg, LoggingConfig):
            return cfg
        return cls(**_known("logging", dict(cfg or {}), cls))

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": list(self.backend),
            "every_n_updates": self.every_n_updates,
            "dir": self.dir,
            "wandb": vars(self.wandb).copy(),
        }


def _known(block: str, cfg: dict[str, Any], cls) -> dict[str, Any]:
    unknown = [k for k in cfg if k not in cls.__dataclass_fields__]
    if unknown:
        raise ValueError(
            "; ".join(f"{block}: unknown key {k!r}{_did_you_mean(k, cls.__dataclass_fields__)}" for k in unknown)
            + f" (known: {sorted(cls.__dataclass_fields__)})"
        )
    return cfg


def check_installed(cfg: LoggingConfig) -> None:
    """A backend whose package is missing fails before any work, naming what to install."""
    for backend in cfg.backend:
        module, extra = BACKENDS[backend]
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(
                f"logging backend {backend!r} needs the {module!r} package: "
                f"pip install '{extra}' (or set training.logging.backend to another one)"
            )


class Tracker(Protocol):
    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class NullTracker:
    """What non-zero ranks (and runs without a logging block) get."""

    def log(self, metrics: dict[str, float], step: int) -> None:
        pass

    def close(self) -> None:
        pass


class DVCLiveTracker:
    """``<dir>/metrics.json`` (latest values, for ``dvc exp show``) and ``<dir>/plots/metrics/**.tsv``
    (one row per logged step, for ``dvc plots``). No dvc.yaml is written: the project's declares it."""

    def __init__(self, directory: Path, resume_step: int | None):
        from dvclive import Live

        if resume_step is not None:
            truncate_dvclive(directory, resume_step)
        self.live = Live(
            str(directory),
            resume=resume_step is not None,
            report=None,
            save_dvc_exp=False,
            dvcyaml=False,
            monitor_system=False,
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.live.step = step
        for key, value in metrics.items():
            self.live.log_metric(key, value)
        self.live.make_summary()

    def close(self) -> None:
        self.live.end()


def truncate_dvclive(directory: Path, last_step: int) -> None:
    """Drop every row logged after ``last_step`` (what a killed run logged past its last checkpoint)."""
    for tsv in (directory / "plots" / "metrics").rglob("*.tsv"):
        with open(tsv, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows:
            continue
        header, body = rows[0], rows[1:]
        col = header.index("step")
        kept = [r for r in body if r and int(r[col]) <= last_step]
        if len(kept) != len(body):
            out = io.StringIO()
            csv.writer(out, delimiter="\t", lineterminator=os.linesep).writerows([header, *kept])
            tsv.write_text(out.getvalue(), encoding="utf-8")


class TensorBoardTracker:
    """Event files in ``<dir>``: ``tensorboard --logdir data/07_model_output``."""

    def __init__(self, directory: Path, resume_step: int | None):
        from torch.utils.tensorboard import SummaryWriter

        if resume_step is None and directory.exists():
            shutil.rmtree(directory)  # a fresh run starts fresh curves
        # purge_step hides what a killed run logged after the checkpoint the run resumes from
        self.writer = SummaryWriter(str(directory), purge_step=None if resume_step is None else resume_step + 1)

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    """A W&B run; ``mode: offline`` writes ``<dir>/wandb/offline-run-*`` with no network."""

    def __init__(self, directory: Path, cfg: WandbConfig, name: str, run_id: str | None, config: dict[str, Any]):
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            mode=cfg.mode,
            dir=str(directory),
            name=name,
            id=run_id,
            resume="allow" if run_id else None,
            config=config,
            reinit="create_new",
        )
        self.run_id = self.run.id

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class MultiTracker:
    """Every configured backend behind the one interface; ``state()`` is what a checkpoint keeps for resume."""

    def __init__(self, trackers: list):
        self.trackers = trackers

    def log(self, metrics: dict[str, float], step: int) -> None:
        for t in self.trackers:
            t.log(metrics, step)

    def close(self) -> None:
        for t in self.trackers:
            t.close()

    def state(self) -> dict[str, Any]:
        return {"wandb_id": t.run_id for t in self.trackers if isinstance(t, WandbTracker)}  # noqa: B035  - one at most


def create_tracker(
    cfg: LoggingConfig | dict | None,
    name: str,
    *,
    is_main: bool = True,
    resume_step: int | None = None,
    state: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> MultiTracker:
    """The run's tracker. ``resume_step``: the update the run resumes after (None: a fresh run, old curves
    removed); ``state``: what the checkpoint kept (the W&B run id); ``config``: hyperparameters for W&B."""
    if cfg is None or not is_main:
        return MultiTracker([])
    cfg = LoggingConfig.from_dict(cfg)
    check_installed(cfg)
    base = Path(cfg.dir.format(name=name))
    trackers: list = []
    for backend in cfg.backend:
        directory = base / backend
        if backend == "dvclive":
            trackers.append(DVCLiveTracker(directory, resume_step))
        elif backend == "tensorboard":
            trackers.append(TensorBoardTracker(directory, resume_step))
        elif backend == "wandb":
            run_id = (state or {}).get("wandb_id") if resume_step is not None else None
            trackers.append(WandbTracker(directory, cfg.wandb, name, run_id, config or {}))
    if trackers:
        log.info("%s: logging %s every %d updates under %s", name, "+".join(cfg.backend), cfg.every_n_updates, base)
    return MultiTracker(trackers)
