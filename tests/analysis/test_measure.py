"""``measure_model`` runs on ``analysis.device``: the CPU given explicitly is bit-identical to the default on a
machine without a GPU (``auto``), and a GPU, where there is one, gives the same numbers up to float error."""

import copy

import pandas as pd
import pytest
import torch

from samlab.analysis.measure import measure_model
from samlab.data.toy import prepare_toy
from samlab.models import create_model
from samlab.train import create_loss

CFG = {
    "subset": {"size": 64},
    "chunk_size": 32,
    "hessian": {"iterations": 3},
    "trace": {"samples": 2},
    "probes": {"max_iter": 200},
}


@pytest.fixture(scope="module")
def setup():
    data = prepare_toy(n_train=64, n_val=8, n_test=64, seed=0)
    model = create_model("samlab_mlp", num_classes=2, in_chans=3, img_size=1, hidden=16, seed=0)
    return data, model


def measure(setup, **cfg):
    data, model = setup
    return measure_model(copy.deepcopy(model), data, create_loss("ce"), {**CFG, **cfg}, 64)


def test_explicit_cpu_is_bit_identical_to_the_default_without_a_gpu(setup, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # `auto` is the CPU here, GPU or not
    default, explicit = measure(setup), measure(setup, device="cpu")
    assert explicit[0] == default[0] and "probe_easy_accuracy" in default[0]
    for a, b in zip(explicit[1:], default[1:]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_the_cpu_up_to_float_error(setup):
    cpu, gpu = measure(setup, device="cpu"), measure(setup, device="cuda")
    assert cpu[0].keys() == gpu[0].keys()
    for key, value in cpu[0].items():
        assert gpu[0][key] == pytest.approx(value, rel=1e-3, abs=1e-5), key
    for a, b in zip(cpu[1:], gpu[1:]):
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-3, atol=1e-5)
