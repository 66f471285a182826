"""The one device helper: a configured device name → ``torch.device``."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when a GPU is visible, else the CPU; any other name (``"cpu"``, ``"cuda:1"``,
    ``"mps"``) is taken as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
