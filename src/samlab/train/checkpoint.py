"""Resumable training state: what a checkpoint holds, how it is made safe to load, where it is kept.

A training-state checkpoint is a plain dict of tensors, dicts, lists, tuples, numbers, strings and None
(``weights_only_safe`` enforces it), so ``torch.load(weights_only=True)`` reads it back without
unpickling code. It holds the model, the optimizer (the SAM wrapper's state included), the LR scheduler,
every RNG the loop draws from (torch, CUDA, numpy, Python, the loader's generator), the epoch, the update
count and the history so far: everything needed for a resumed run to continue bit for bit.

``CheckpointStore`` keeps one file per epoch (``epoch-0003.pt``: the epoch number is the version),
written atomically, pruned to the last ``keep``; ``latest()`` is what ``resume: true`` continues from.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samlab._files import atomic_write

log = logging.getLogger(__name__)

FORMAT = "samlab-train-state/1"
_FILE = re.compile(r"^epoch-(\d{4,})\.pt$")
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
        "numpy": {"bit_generator": np_state["bit_generator"], "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "cached_gaussian": float(np_state["gauss"])},
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
    np.random.set_state({"bit_generator": npst["bit_generator"],
                         "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": npst["pos"]},
                         "has_gauss": npst["has_gauss"], "gauss": npst["cached_gaussian"]})
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
RESUMABLE_CHANGES = frozenset({"resume", "progress", "device", "eval_batch_size", "compile", "extra"})


def check_compatible(state: dict[str, Any], model_config: dict, optimizer_config: dict, train_config: dict, source: str) -> None:
    """Refuse to resume from a checkpoint of a different model, optimizer or recipe, saying what differs."""
    if state.get("format") != FORMAT:
        raise ValueError(f"{source} is not a samlab training-state checkpoint (format {state.get('format')!r}, expected {FORMAT!r})")
    if state["model_config"] != model_config:
        raise ValueError(
            f"{source} holds a different model: checkpoint {state['model_config']} vs this run {model_config}; "
            "set `resume: false` to start over or point the run at the right checkpoint directory")
    if state["optimizer_config"] != optimizer_config:
        raise ValueError(
            f"{source} was trained with a different optimizer: checkpoint {state['optimizer_config']} vs this run "
            f"{optimizer_config}; set `resume: false` to start over")
    theirs, ours = state["train_config"], train_config
    differing = sorted(k for k in set(theirs) | set(ours) if k not in RESUMABLE_CHANGES and theirs.get(k) != ours.get(k))
    if differing:
        detail = ", ".join(f"{k}: {theirs.get(k)!r} -> {ours.get(k)!r}" for k in differing)
        raise ValueError(f"{source} was trained with different training settings ({detail}); resuming would not "
                         "reproduce an uninterrupted run: set `resume: false` to start over")


# -- where checkpoints live ---------------------------------------------------------------------------
class CheckpointStore:
    """A folder of per-epoch training-state files (``epoch-NNNN.pt``), written atomically, last ``keep`` kept."""

    def __init__(self, path: str | Path, keep: int | None = 2):
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be >= 1 or None (keep all), got {keep}")
        self.path = Path(path)
        self.keep = keep

    def __repr__(self) -> str:
        return f"CheckpointStore({str(self.path)!r}, keep={self.keep})"

    def epochs(self) -> list[int]:
        """Epochs with a checkpoint on disk, ascending."""
        if not self.path.is_dir():
            return []
        return sorted(int(m.group(1)) for f in self.path.iterdir() if (m := _FILE.match(f.name)))

    def file(self, epoch: int) -> Path:
        return self.path / f"epoch-{epoch:04d}.pt"

    def save(self, state: dict[str, Any]) -> Path:
        safe = weights_only_safe(state)
        target = self.file(int(state["epoch"]))
        atomic_write(target, lambda tmp: torch.save(safe, tmp))
        if self.keep is not None:
            for old in self.epochs()[: -self.keep]:
                self.file(old).unlink(missing_ok=True)
        return target

    def load(self, epoch: int) -> dict[str, Any]:
        path = self.file(epoch)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"no checkpoint for epoch {epoch} in {self.path} (have {self.epochs()})") from None
        except Exception as exc:  # torch raises several types for corrupt or unsafe files
            raise ValueError(f"cannot load checkpoint {path} safely: {exc}") from exc

    def latest(self) -> dict[str, Any] | None:
        """The newest checkpoint, or None when the folder holds none."""
        epochs = self.epochs()
        return self.load(epochs[-1]) if epochs else None

    def clear(self) -> None:
        for epoch in self.epochs():
            self.file(epoch).unlink(missing_ok=True)
