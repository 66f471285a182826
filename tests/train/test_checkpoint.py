"""Training-state checkpoints: only weights_only-safe content, every RNG restored, atomic per-epoch files."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from samlab.train.checkpoint import CheckpointStore, check_compatible, rng_state, set_rng_state, weights_only_safe


def draws(gen: torch.Generator) -> tuple:
    return (
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        np.random.randn(),
        random.random(),
        torch.randint(0, 1000, (3,), generator=gen).tolist(),
    )


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
    with pytest.raises(
        TypeError, match=r"state\['history'\]\[0\]: a function cannot go into a weights_only checkpoint"
    ):
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
    with pytest.raises(
        ValueError, match=r"cannot load checkpoint .*epoch-0005.pt safely: corrupted or not a checkpoint"
    ):
        store.load(5)
    with pytest.raises(ValueError, match="keep must be >= 1"):
        CheckpointStore(tmp_path, keep=0)


def test_compatibility_check_names_what_differs():
    state = {
        "format": "samlab-train-state/1",
        "model_config": {"name": "a"},
        "optimizer_config": {"name": "sam"},
        "train_config": {"seed": 0, "epochs": 3, "progress": True},
    }
    check_compatible(state, {"name": "a"}, {"name": "sam"}, {"seed": 0, "epochs": 3, "progress": False}, "ck")
    with pytest.raises(ValueError, match=r"ck was trained with different training settings \(epochs: 3 -> 4\)"):
        check_compatible(state, {"name": "a"}, {"name": "sam"}, {"seed": 0, "epochs": 4}, "ck")
    with pytest.raises(ValueError, match="not a samlab training-state checkpoint"):
        check_compatible({"format": "other"}, {}, {}, {}, "ck")


# -- a cluster's checkpoints: unreadable newest skipped, no stale temp files, group-readable modes ------------
def test_unreadable_newest_checkpoint_is_skipped_naming_it_and_the_previous_one_resumed(tmp_path, caplog):
    from samlab.data import prepare_digits
    from samlab.train import train

    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = data.splits["train"]
    data.splits["train"] = (images[:256], labels[:256])  # 8 updates per epoch
    model, opt = {"name": "samlab_mlp"}, {"name": "sam", "lr": 0.1, "momentum": 0.9, "rho": 0.05}
    cfg = {"epochs": 2, "batch_size": 32, "warmup_epochs": 1, "progress": False, "checkpoint_every_n_updates": 5}
    full = train(data, model, opt, cfg)
    store = CheckpointStore(tmp_path / "ckpt", keep=3)

    def crash(update, stats):  # a crash at update 12: the checkpoints of updates 5, 8 (epoch end) and 10 exist
        if update == 12:
            raise RuntimeError("node lost")

    with pytest.raises(RuntimeError, match="node lost"):
        train(data, model, opt, cfg, checkpoints=store, on_step=crash)
    assert store.positions() == [(0, 5), (1, 0), (1, 2)]
    newest = store.file(1, 2)
    newest.write_bytes(newest.read_bytes()[:1000])  # cut short, as by a full disk
    resumed = train(data, model, opt, {**cfg, "resume": True}, checkpoints=store)
    assert f"cannot load checkpoint {newest} safely" in caplog.text and "skipping it" in caplog.text
    assert f"resuming from {store.file(1)} instead" in caplog.text
    assert "weights_only=False" not in caplog.text and "weights_only` set to `False" not in caplog.text
    for key, value in full.checkpoint["state_dict"].items():
        assert torch.equal(value, resumed.checkpoint["state_dict"][key]), key

    for pos in store.positions():  # every file unreadable: an error naming them, never a silent restart
        store.file(*pos).write_bytes(b"")
    with pytest.raises(ValueError, match=r"no readable checkpoint in .*empty or cut short.*set `resume: false`"):
        store.latest()


def test_stale_temp_files_are_removed_and_a_failed_write_leaves_none(tmp_path):
    from samlab._files import atomic_write

    store = CheckpointStore(tmp_path, keep=2)
    (tmp_path / ".epoch-0004-update-000003.pt.k1l2.tmp").write_bytes(b"")  # a save killed midway
    (tmp_path / ".model.pt.x9y8.tmp").write_bytes(b"half")
    (tmp_path / "notes.tmp").write_text("not ours")
    assert [f.name for f in store.remove_stale_temps()] == [".epoch-0004-update-000003.pt.k1l2.tmp"]
    atomic_write(tmp_path / "model.pt", lambda tmp: Path(tmp).write_bytes(b"weights"))
    assert sorted(f.name for f in tmp_path.iterdir()) == ["model.pt", "notes.tmp"]

    def fails(tmp):
        Path(tmp).write_bytes(b"part")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "other.pt", fails)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["model.pt", "notes.tmp"]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_usual_mode_for_the_umask(tmp_path, umask, mode):
    import os
    import stat

    from samlab._files import atomic_write

    old = os.umask(umask)
    try:
        path = CheckpointStore(tmp_path / "ckpt").save({"epoch": 1, "w": torch.ones(2)})
        atomic_write(tmp_path / "model.pt", lambda tmp: torch.save({"w": torch.ones(1)}, tmp))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "model.pt").stat().st_mode) == mode


def test_checkpoints_every_n_updates_and_every_t_minutes(tmp_path, monkeypatch):
    from samlab.data import prepare_digits
    from samlab.train import loop, train

    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    images, labels = data.splits["train"]
    data.splits["train"] = (images[:256], labels[:256])  # 8 updates per epoch
    model, opt = {"name": "samlab_mlp"}, {"name": "sgd", "lr": 0.1}
    cfg = {"epochs": 2, "batch_size": 32, "progress": False}
    store = CheckpointStore(tmp_path / "n", keep=None)
    train(data, model, opt, {**cfg, "checkpoint_every_n_updates": 3}, checkpoints=store)
    # updates 3, 6 | 8 (epoch end) | 9, 12, 15 | 16: (epochs done, updates into the next)
    assert store.positions() == [(0, 3), (0, 6), (1, 0), (1, 1), (1, 4), (1, 7), (2, 0)]
    assert store.load(1, 4)["num_updates"] == 12

    clock = {"now": 0.0}  # a clock that advances 50 s per update: a checkpoint every 2 minutes = every 3rd update
    monkeypatch.setattr(loop.time, "monotonic", lambda: clock["now"])
    store = CheckpointStore(tmp_path / "t", keep=None)
    train(
        data,
        model,
        opt,
        {**cfg, "epochs": 1, "checkpoint_every_minutes": 2},
        checkpoints=store,
        on_step=lambda update, stats: clock.__setitem__("now", 50.0 * update),
    )
    assert store.positions() == [(0, 3), (0, 6), (1, 0)]
    with pytest.raises(ValueError, match="checkpoint_every_minutes must be > 0"):
        train(data, model, opt, {**cfg, "checkpoint_every_minutes": 0}, checkpoints=store)


def test_equal_checkpoints_are_byte_identical(tmp_path):
    """Each save goes through a random temp file; torch would name the zip's root folder after it, so the
    same state would give different bytes every time (DVC hashes bytes and would see a new model)."""
    state = {"epoch": 1, "w": torch.arange(6.0).view(2, 3), "rng": rng_state()}
    a, b = CheckpointStore(tmp_path / "a"), CheckpointStore(tmp_path / "b")
    assert a.save(state).read_bytes() == b.save(state).read_bytes()
