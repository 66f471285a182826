"""Re-packed and subset archives: one override key for every reader, named in the error; plain-data pickles of
any protocol load, code-running ones never run; MNIST's missing-file message names each file's own URLs."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from samlab.data import MissingRawFileError, RawDataError, prepare_dataset, read_cifar
from samlab.data.raw import CHECKSUM_KEY
from tests.data.fakes import write_cifar10, write_mnist


def repack(archive, dest, protocol: int, evil: bytes | None = None):
    """The archive's batches unpickled and written again by Python 3 with ``protocol`` (a re-packed copy)."""
    out = {}
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.isfile():
                obj = pickle.loads(tar.extractfile(m).read(), encoding="latin1")  # our own test file
                out[m.name] = pickle.dumps(obj, protocol=protocol)
    if evil is not None:
        out["cifar-10-batches-py/data_batch_3"] = evil
    with tarfile.open(dest, "w:gz") as tar:
        for name, blob in out.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return dest


@pytest.mark.parametrize("protocol", [2, 5])
def test_python3_repacked_archive_loads_with_the_override(tmp_path, protocol):
    src = tmp_path / "src"
    src.mkdir()
    archive = write_cifar10(src, per_batch=8, test=12)
    raw = tmp_path / "raw"
    raw.mkdir()
    repack(archive, raw / "cifar-10-python.tar.gz", protocol)
    if protocol == 2:  # Python 3 writes the arrays' bytes through _codecs.encode at protocols <= 2
        assert b"_codecs" in pickle.dumps(np.zeros(3, np.uint8), protocol=2)
    with pytest.raises(RawDataError, match=f"set `{CHECKSUM_KEY}: false`"):
        prepare_dataset("cifar10", raw_dir=str(raw))
    data = prepare_dataset("cifar10", raw_dir=str(raw), verify_checksum=False, val_fraction=0.0)
    expected = read_cifar("cifar10", src, md5=None)
    assert np.array_equal(data.splits["train"][0].numpy(), expected.train[0].numpy())
    assert np.array_equal(data.splits["test"][1].numpy(), expected.test[1].numpy())


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OtherCodec:
    """A pickle that reaches _codecs.encode with a codec other than latin1."""

    def __reduce__(self):
        import _codecs

        return (_codecs.encode, ("x", "rot13"))


@pytest.mark.parametrize("payload", ["system", "codec"])
def test_repacked_archive_that_runs_code_is_refused_with_the_override(tmp_path, payload):
    src = tmp_path / "src"
    src.mkdir()
    marker = tmp_path / "pwned"
    evil = pickle.dumps(
        {"data": _RunsCode(marker) if payload == "system" else _OtherCodec(), "labels": [0]}, protocol=2
    )
    archive = repack(write_cifar10(src), tmp_path / "cifar-10-python.tar.gz", 2, evil=evil)
    match = r"refused to load global (posix|os|nt)\.system" if payload == "system" else "refused _codecs.encode"
    with pytest.raises(RawDataError, match=match):
        prepare_dataset("cifar10", raw_dir=str(archive.parent), verify_checksum=False)
    assert not marker.exists()


def test_mnist_override_key_and_separate_urls(tmp_path):
    write_mnist(tmp_path, train=20, test=10)
    with pytest.raises(RawDataError, match=f"`{CHECKSUM_KEY}: false`"):
        prepare_dataset("mnist", raw_dir=str(tmp_path))
    assert prepare_dataset("mnist", raw_dir=str(tmp_path), verify_checksum=False, val_fraction=0.0).num_classes == 10
    with pytest.raises(MissingRawFileError) as err:
        prepare_dataset("mnist", raw_dir=str(tmp_path / "none"))
    msg = str(err.value)
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz " in msg
    assert "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz" in msg
    assert "/mnist/ (" not in msg  # no URL glued to another


def test_switching_data_name_keeps_only_the_new_data_sets_options(tmp_path, caplog):
    """`kedro run --params data.name=mnist` over the digits block: digits' `split` is dropped with a warning."""
    from samlab.pipelines.data_preparation.nodes import prepare_data

    write_mnist(tmp_path, train=100, test=10)
    digits_block = {
        "name": "digits",
        "image_size": 16,
        "in_chans": 1,
        "split": {"train": 0.7, "val": 0.15, "test": 0.15},
        "seed": 0,
    }
    data = prepare_data({**digits_block, "name": "mnist", "raw_dir": str(tmp_path), "verify_checksum": False})
    assert data.name == "mnist" and data.image_shape == (1, 16, 16)
    assert "'split' is an option of digits, dominoes, not of 'mnist': ignored" in caplog.text
