"""Every training test runs on one intra-op thread (``one_torch_thread`` in ``tests/conftest.py``)."""

import pytest


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Tiny models train faster on one intra-op thread."""
