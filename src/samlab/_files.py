"""Atomic file writes (and why a torch file would not load), Kedro-free: the training loop's checkpoints and the catalog's datasets share them.

A file is written to a temp file in the target's folder and renamed onto the target, so a killed process
never leaves a half-written file under the real name. The temp file gets the mode any new file gets
(``0o666`` less the process umask): ``mkstemp``'s private 0600 would break a DVC cache or remote shared
by a group. Temp files a killed writer left behind (``.<name>.<random>.tmp``) are removed the next time
the same target is written, or by ``remove_stale_temps`` for a whole folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it (Linux exposes it; elsewhere set-and-restore)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temps(folder: str | Path, prefix: str = ".") -> list[Path]:
    """Delete the temp files ``atomic_write`` left in ``folder`` (names ``<prefix>….tmp``); returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [f for f in folder.iterdir() if f.name.startswith(prefix) and f.name.endswith(TEMP_SUFFIX) and f.is_file()]
    for f in stale:
        f.unlink(missing_ok=True)
    return stale


def atomic_write(path: str | Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; the temp file is removed on failure.

    The result has the usual mode for a new file (``0o666 & ~umask``). Leftover temp files of the same
    target (from a writer killed mid-write) are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, prefix=f".{path.name}.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_torch(obj: object, path: str | Path) -> None:
    """``torch.save`` atomically, byte-identical for equal content. Why through a file object: given a path,
    torch names the zip archive's root folder after the file — here the random temp name — so every save
    of the same checkpoint would differ in bytes, and DVC would take it for a new model."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    atomic_write(path, write)


def describe_load_error(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line, without torch's advice to load unsafely."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().split("\n")[0].split(". ")[0].strip()
        if "GLOBAL" in detail:
            return f"it holds objects a safe (weights_only) load refuses ({detail}): not a samlab checkpoint"
        return f"corrupted or not a checkpoint ({detail})"
    if isinstance(exc, EOFError) or not text.strip():
        return f"the file is empty or cut short ({type(exc).__name__})"
    return f"corrupted or not a checkpoint ({text.strip().splitlines()[0].split('. ')[0][:200]})"
