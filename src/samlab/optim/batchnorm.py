"""BatchNorm during the perturbed pass: normalise with the batch statistics, leave the running ones alone.

Why: the running statistics must see each sample once per update (the clean pass), as in SGD. Switching
``track_running_stats`` off for the pass does exactly that — batch statistics, no running update, no
counter increment — with one attribute write per module and no tensor clone/restore (the momentum-0
trick of the reference code leaves the numbers equal but needs the counter restored, and turns NaN).
"""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextmanager
def frozen_batchnorm_stats(model: nn.Module, modules: list | None = None):
    """Keep BatchNorm running statistics (and counters) fixed while still normalising with batch stats."""
    mods = batchnorms(model) if modules is None else modules
    for mod in mods:
        mod.track_running_stats = False
    try:
        yield
    finally:
        for mod in mods:
            mod.track_running_stats = True
