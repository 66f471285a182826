"""Configuration problems: what is wrong, where (block and key), and a did-you-mean.

Kept free of any samlab import so the training loop, the data readers and the validator can all raise
the same error without import cycles.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One bad setting: ``block`` is the dotted path of the parameters block (``sam.optimizer``), ``key``
    the setting inside it (empty for the block itself)."""

    block: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.block}.{self.key}" if self.key else self.block
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """Every problem of a configuration at once; raised before any work is done."""

    def __init__(self, problems: Iterable[Problem], what: str = "the parameters"):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in {what}; nothing was run:\n{lines}")


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'epochs'?)`` for the closest known key, else the empty string."""
    close = difflib.get_close_matches(str(key), sorted(map(str, known)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_keys(block: str, cfg: dict, known: Iterable[str], what: str = "setting") -> list[Problem]:
    """A problem for every key of ``cfg`` not in ``known``, each with its closest known key."""
    known = sorted(set(known))
    return [
        Problem(block, str(k), f"unknown {what}{did_you_mean(k, known)}; known: {', '.join(known)}")
        for k in cfg
        if k not in known
    ]


def raise_unknown_keys(block: str, cfg: dict, known: Iterable[str], what: str = "setting") -> None:
    problems = unknown_keys(block, cfg, known, what)
    if problems:
        raise ConfigError(problems, f"`{block}`")
