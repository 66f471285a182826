"""Resumable training state: what a checkpoint holds, how it is made safe to load, where it is kept.

A training-state checkpoint is a plain dict of tensors, dicts, lists, tuples, numbers, strings and None
(``weights_only_safe`` enforces it), so ``torch.load(weights_only=True)`` reads it back without
unpickling code. It holds the model, the optimizer (the SAM wrapper's state included), the LR scheduler,
every RNG the loop draws from (torch, CUDA, numpy, Python, the loader's generator), the epoch, the update
count and the history so far: everything needed for a resumed run to continue bit for bit.

``CheckpointStore`` keeps one file per epoch end (``epoch-0003.pt``) and, when the loop checkpoints
inside an epoch, one per such point (``epoch-0004-update-000130.pt``: 130 updates into epoch 4),
written atomically with the usual file mode, pruned to the last ``keep``. ``latest()`` is what
``resume: true`` continues from: the newest *readable* file (an unreadable one is skipped with a
warning naming it). Temp files of a writer killed mid-save are removed.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samlab._files import describe_load_error, remove_stale_temps, save_torch

log = logging.getLogger(__name__)

FORMAT = "samlab-train-state/1"
_FILE = re.compile(r"^epoch-(\d{4,})(?:-update-(\d{6,}))?\.pt$")
_SAFE_SCALARS = (bool, int, float, str, type(None))


def weights_only_safe(obj: Any, where: str = "state") -> Any:
    """``obj`` with numpy values turned into tensors/Python numbers; anything else unsafe is an error.

    Saving only what ``torch.load(weights_only=True)`` admits means a checkpoint can always be read back
    safely, and a stray object (a lambda, a dataclass) fails at save time, naming where it is.
    """
    if isinstance(obj, _SAFE_SCALARS) or isinstance(obj, (torch.Tensor, torch.Size, torch.dtype, torch.device)):
        return obj
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.astype(np.int64) if obj.dtype.kind in "ui" else np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: weights_only_safe(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list):
        return [weights_only_safe(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return tuple(weights_only_safe(v, f"{where}[{i}]") for i, v in enumerate(obj))
    raise TypeError(f"{where}: a {type(obj).__name__} cannot go into a weights_only checkpoint")


# -- RNG states -----------------------------------------------------------------------------------
def rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random stream the loop reads, as safe values (numpy's key array becomes an int64 tensor)."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "cached_gaussian": float(np_state["gauss"]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": npst["bit_generator"],
            "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": npst["pos"]},
            "has_gauss": npst["has_gauss"],
            "gauss": npst["cached_gaussian"],
        }
    )
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "loader" in state:
        generator.set_state(state["loader"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # all devices


# -- compatibility of a checkpoint with the run that wants to resume it ------------------------------
# Training settings that may change between the killed run and its resumption without changing the maths.
RESUMABLE_CHANGES = frozenset(
    {
        "resume",
        "progress",
        "device",
        "eval_batch_size",
        "compile",
        "extra",
        "logging",
        "checkpoint_every_n_updates",
        "checkpoint_every_minutes",
    }
)


def check_compatible(
    state: dict[str, Any], model_config: dict, optimizer_config: dict, train_config: dict, source: str
) -> None:
    """Refuse to resume from a checkpoint of a different model, optimizer or recipe, saying what differs."""
    if state.get("format") != FORMAT:
        raise ValueError(
            f"{source} is not a samlab training-state checkpoint (format {state.get('format')!r}, expected {FORMAT!r})"
        )
    if state["model_config"] != model_config:
        raise ValueError(
            f"{source} holds a different model: checkpoint {state['model_config']} vs this run {model_config}; "
            "set `resume: false` to start over or point the run at the right checkpoint directory"
        )
    if state["optimizer_config"] != optimizer_config:
        raise ValueError(
            f"{source} was trained with a different optimizer: checkpoint {state['optimizer_config']} vs this run "
            f"{optimizer_config}; set `resume: false` to start over"
        )
    theirs, ours = state["train_config"], train_config
    differing = sorted(
        k for k in set(theirs) | set(ours) if k not in RESUMABLE_CHANGES and theirs.get(k) != ours.get(k)
    )
    if differing:
        detail = ", ".join(f"{k}: {theirs.get(k)!r} -> {ours.get(k)!r}" for k in differing)
        raise ValueError(
            f"{source} was trained with different training settings ({detail}); resuming would not "
            "reproduce an uninterrupted run: set `resume: false` to start over"
        )


# -- where checkpoints live ---------------------------------------------------------------------------
class CheckpointStore:
    """A folder of training-state files, written atomically, the last ``keep`` kept.

    ``epoch-0003.pt`` holds the state after epoch 3; ``epoch-0004-update-000130.pt`` the state 130
    updates into epoch 4 (mid-epoch checkpoints, see ``training.checkpoint_every_*``). A checkpoint's
    position is ``(epoch, batch)``: epochs finished and updates done in the next one.
    """

    def __init__(self, path: str | Path, keep: int | None = 2):
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be >= 1 or None (keep all), got {keep}")
        self.path = Path(path)
        self.keep = keep

    def __repr__(self) -> str:
        return f"CheckpointStore({str(self.path)!r}, keep={self.keep})"

    def positions(self) -> list[tuple[int, int]]:
        """``(epochs finished, updates into the next epoch)`` of every checkpoint on disk, oldest first."""
        if not self.path.is_dir():
            return []
        found = []
        for f in self.path.iterdir():
            if m := _FILE.match(f.name):
                epoch, update = int(m.group(1)), m.group(2)
                found.append((epoch, 0) if update is None else (epoch - 1, int(update)))
        return sorted(found)

    def epochs(self) -> list[int]:
        """Epochs with an end-of-epoch checkpoint on disk, ascending."""
        return [epoch for epoch, batch in self.positions() if batch == 0]

    def file(self, epoch: int, batch: int = 0) -> Path:
        """The file of the state after ``epoch`` epochs and ``batch`` updates of the next one."""
        if batch == 0:
            return self.path / f"epoch-{epoch:04d}.pt"
        return self.path / f"epoch-{epoch + 1:04d}-update-{batch:06d}.pt"

    def save(self, state: dict[str, Any]) -> Path:
        safe = weights_only_safe(state)
        target = self.file(int(state["epoch"]), int(state.get("batch", 0)))
        save_torch(safe, target)
        if self.keep is not None:
            for old in self.positions()[: -self.keep]:
                self.file(*old).unlink(missing_ok=True)
        return target

    def load(self, epoch: int, batch: int = 0) -> dict[str, Any]:
        path = self.file(epoch, batch)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"no checkpoint for epoch {epoch} in {self.path} (have {self.epochs()})") from None
        except Exception as exc:  # torch raises several types for corrupt or unsafe files
            raise ValueError(f"cannot load checkpoint {path} safely: {describe_load_error(exc)}") from None

    def latest(self) -> dict[str, Any] | None:
        """The newest readable checkpoint, or None when the folder holds none.

        An unreadable file (cut short, corrupted, or not a safe checkpoint) is skipped with a warning naming
        it and the one before is used; only when every file is unreadable is it an error.
        """
        positions = self.positions()
        failures = []
        for pos in reversed(positions):
            try:
                state = self.load(*pos)
            except ValueError as exc:
                failures.append(str(exc))
                log.warning("%s; skipping it and trying the previous checkpoint", exc)
                continue
            if failures:
                log.warning("resuming from %s instead", self.file(*pos))
            return state
        if failures:
            raise ValueError(
                f"no readable checkpoint in {self.path}: "
                + "; ".join(failures)
                + " (set `resume: false` to start over)"
            )
        return None

    def remove_stale_temps(self) -> list[Path]:
        """Delete the temp files of saves that were killed midway (never a finished checkpoint)."""
        stale = remove_stale_temps(self.path, prefix=".epoch-")
        for f in stale:
            log.info("removed %s, the temp file of a save that was interrupted", f)
        return stale

    def clear(self) -> None:
        for pos in self.positions():
            self.file(*pos).unlink(missing_ok=True)
        self.remove_stale_temps()
