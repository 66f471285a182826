"""Make ``import torchvision`` (and so ``import timm``) work beside a CPU-only torch.

Why: the only torchvision 0.28.0 wheel on PyPI is a CUDA build. Its compiled extension cannot load next
to the CPU torch wheel, and torchvision then registers fake kernels for ``torchvision::nms``/``qnms``
whose schemas were never declared, so ``import torchvision`` raises
``RuntimeError: operator torchvision::nms does not exist``. timm imports torchvision at import time.

Fix: before torchvision is first imported, try its compiled extension; only if it does not load, declare
the two schemas in a ``torch.library`` fragment kept alive for the process. torchvision's Python
transforms and models then work; its compiled ops (nms, roi_align, C image decoding) stay unavailable
and samlab never uses them. On a machine where torch and torchvision match (a CUDA box) this does nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_LIBRARY = None  # the torch.library fragment; must outlive the process's use of torchvision
TORCHVISION_OPS_STUBBED = False
_KEEP_ON_TORCH = "_samlab_torchvision_fragment"


def _torchvision_extension_loads() -> bool:
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # no torchvision: nothing to guard
    folder = Path(spec.origin).parent
    for lib in sorted(folder.glob("_C*.so")) + sorted(folder.glob("_C*.pyd")):
        try:
            torch.ops.load_library(str(lib))
            return True
        except (OSError, RuntimeError):
            return False
    return False


def install_torchvision_guard() -> None:
    """Declare torchvision's nms/qnms schemas if its compiled extension cannot load."""
    global _LIBRARY, TORCHVISION_OPS_STUBBED
    if "torchvision" in sys.modules or _LIBRARY is not None:
        return
    if _torchvision_extension_loads():
        return
    import torch

    # Kedro's `%reload_kedro` drops samlab from sys.modules and imports it again; the first import's module
    # (and a fragment held only by it) may then be freed, which deletes the schemas. So the fragment is kept
    # on torch.library itself, and a later import reuses it.
    _LIBRARY = getattr(torch.library, _KEEP_ON_TORCH, None)
    if _LIBRARY is None:
        _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")  # noqa: TOR901 - kept alive on purpose
        _LIBRARY.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIBRARY.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        setattr(torch.library, _KEEP_ON_TORCH, _LIBRARY)
    TORCHVISION_OPS_STUBBED = True


install_torchvision_guard()
