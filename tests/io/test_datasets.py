import os
import pickle
import subprocess
import sys

import pytest
import torch
from kedro.io import DatasetError
from safetensors.torch import save_file

from samlab.data import prepare_digits
from samlab.io import PreparedDataDataset, TorchCheckpointDataset


def test_prepared_data_dataset_round_trip(tmp_path):
    data = prepare_digits(8, 1, {"train": 0.8, "test": 0.2}, seed=0)
    ds = PreparedDataDataset(str(tmp_path / "p.safetensors"))
    assert not ds.exists()
    ds.save(data)
    back = ds.load()
    assert torch.equal(back.splits["test"][1], data.splits["test"][1]) and back.std == data.std
    assert [p.name for p in tmp_path.iterdir()] == ["p.safetensors"]  # no temp files left


_SAVE = """
import sys
from samlab.data import prepare_digits
from samlab.io import PreparedDataDataset
data = prepare_digits(8, 1, {"train": 0.8, "test": 0.2}, seed=0)
data.extra = {"b": 1, "a": 2}
PreparedDataDataset(sys.argv[1]).save(data)
"""


def test_prepared_data_files_are_byte_identical_across_processes(tmp_path):
    """safetensors orders a metadata map differently in every process; the file must not change with it
    (DVC hashes bytes: a byte-different, equal data set would rerun every downstream stage)."""
    paths = [tmp_path / f"{i}.safetensors" for i in range(3)]
    for path in paths:  # separate processes: each has its own hash seed
        subprocess.run([sys.executable, "-c", _SAVE, str(path)], check=True, timeout=300)
    assert paths[0].read_bytes() == paths[1].read_bytes() == paths[2].read_bytes()
    assert PreparedDataDataset(str(paths[0])).load().extra == {"b": 1, "a": 2}


def test_prepared_data_with_flat_metadata_still_loads(tmp_path):
    """Files written before the metadata moved under one key (one metadata entry per field) still load."""
    data = prepare_digits(8, 1, {"train": 0.8, "test": 0.2}, seed=0)
    tensors, meta = data.to_tensors()
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta)
    back = PreparedDataDataset(str(tmp_path / "old.safetensors")).load()
    assert back.class_names == data.class_names and torch.equal(back.splits["train"][0], data.splits["train"][0])


def test_missing_and_corrupt_files_give_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist: run `kedro run --pipelines data_preparation`"):
        PreparedDataDataset(str(tmp_path / "none.safetensors")).load()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(DatasetError, match="not a readable safetensors file"):
        PreparedDataDataset(str(bad)).load()


def test_checkpoint_round_trip_and_atomic_failure(tmp_path):
    ds = TorchCheckpointDataset(str(tmp_path / "m" / "model.pt"))
    ckpt = {"model_config": {"name": "samlab_cnn", "num_classes": 2}, "state_dict": {"w": torch.ones(2)}}
    ds.save(ckpt)
    assert torch.equal(ds.load()["state_dict"]["w"], torch.ones(2))

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(Exception, match="boom"):
        ds.save({"bad": Unsaveable()})
    assert torch.equal(ds.load()["state_dict"]["w"], torch.ones(2))  # old file intact
    assert sorted(os.listdir(tmp_path / "m")) == ["model.pt"]


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoint_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _RunsCode()}, f)
    with pytest.raises(DatasetError, match="cannot load checkpoint .* safely"):
        TorchCheckpointDataset(str(path)).load()


def test_equal_checkpoints_are_byte_identical_files(tmp_path):
    paths = [tmp_path / "a" / "model.pt", tmp_path / "b" / "model.pt"]
    for path in paths:
        TorchCheckpointDataset(str(path)).save({"state_dict": {"w": torch.ones(3)}, "epochs": 2})
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert TorchCheckpointDataset(str(paths[0])).load()["epochs"] == 2
