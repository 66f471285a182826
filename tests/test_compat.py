import subprocess
import sys

from tests.conftest import HANG_TIMEOUT


def test_import_timm_after_samlab_works_in_a_fresh_process():
    code = (
        "import samlab, timm, torchvision; m = timm.create_model('resnet10t', num_classes=3); print(type(m).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ResNet"


def test_guard_is_a_no_op_once_torchvision_is_imported():
    from samlab import _compat

    import torchvision  # noqa: F401

    before = _compat._LIBRARY
    _compat.install_torchvision_guard()
    assert _compat._LIBRARY is before


def test_guard_survives_samlab_being_imported_again_in_one_process():
    """Kedro's `%reload_kedro` purges samlab from sys.modules and imports it again before timm is imported."""
    code = (
        "import sys, samlab\n"
        "for name in [m for m in sys.modules if m == 'samlab' or m.startswith('samlab.')]: del sys.modules[name]\n"
        "import samlab, timm; print(timm.create_model('resnet10t', num_classes=3).__class__.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ResNet"
