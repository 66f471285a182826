"""Training-state checkpoints: only weights_only-safe content, every RNG restored, atomic per-epoch files."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from samlab.train.checkpoint import CheckpointStore, check_compatible, rng_state, set_rng_state, weights_only_safe


def draws(gen: torch.Generator) -> tuple:
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), np.random.randn(), random.random(),
            torch.randint(0, 1000, (3,), generator=gen).tolist())


def test_rng_state_round_trip_restores_every_stream(tmp_path):
    gen = torch.Generator().manual_seed(5)
    np.random.randn()  # leave a cached gaussian in numpy's legacy state
    store = CheckpointStore(tmp_path)
    store.save({"epoch": 1, "rng": rng_state(gen)})
    expected = draws(gen)
    draws(gen)  # move every stream on
    set_rng_state(store.latest()["rng"], gen)
    assert draws(gen) == expected


def test_unsafe_objects_are_refused_at_save_time_naming_where(tmp_path):
    with pytest.raises(TypeError, match=r"state\['history'\]\[0\]: a function cannot go into a weights_only checkpoint"):
        CheckpointStore(tmp_path).save({"epoch": 1, "history": [lambda: 0]})
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    safe = weights_only_safe({"a": np.arange(3, dtype=np.uint32), "b": np.float32(1.5), "c": (1, None, "x")})
    assert torch.equal(safe["a"], torch.tensor([0, 1, 2])) and safe["b"] == 1.5 and safe["c"] == (1, None, "x")


def test_store_keeps_the_last_files_and_ignores_partial_temp_files(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for epoch in (1, 2, 3):
        store.save({"epoch": epoch, "w": torch.full((2,), float(epoch))})
    (tmp_path / ".epoch-0004.pt.abc.tmp").write_bytes(b"half a file")  # what a kill during a save leaves
    assert store.epochs() == [2, 3]
    assert torch.equal(store.latest()["w"], torch.full((2,), 3.0))
    with pytest.raises(FileNotFoundError, match="no checkpoint for epoch 1"):
        store.load(1)
    (tmp_path / "epoch-0005.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"cannot load checkpoint .*epoch-0005.pt safely: corrupted or not a checkpoint"):
        store.load(5)
    with pytest.raises(ValueError, match="keep must be >= 1"):
        CheckpointStore(tmp_path, keep=0)


def test_compatibility_check_names_what_differs():
    state = {"format": "samlab-train-state/1", "model_config": {"name": "a"}, "optimizer_config": {"name": "sam"},
             "train_config": {"seed": 0, "epochs": 3, "progress": True}}
    check_compatible(state, {"name": "a"}, {"name": "sam"}, {"seed": 0, "epochs": 3, "progress": False}, "ck")
    with pytest.raises(ValueError, match=r"ck was trained with different training settings \(epochs: 3 -> 4\)"):
        check_compatible(state, {"name": "a"}, {"name": "sam"}, {"seed": 0, "epochs": 4}, "ck")
    with pytest.raises(ValueError, match="not a samlab training-state checkpoint"):
        check_compatible({"format": "other"}, {}, {}, {}, "ck")
