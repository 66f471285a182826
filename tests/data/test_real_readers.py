"""CIFAR-10/100, MNIST and CIFAR-MNIST readers on tiny files in the official formats, and their safety."""

import os
import pickle
import tempfile

import numpy as np
import pytest
import torch

from samlab.data import MissingRawFileError, RawDataError, prepare_dataset, read_cifar, read_mnist
from samlab.data.raw import md5sum
from samlab.io import PreparedDataDataset
from tests.data.fakes import official_pickle, write_cifar10, write_cifar100, write_idx, write_mnist, write_tar


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point tempfile at a folder we can inspect for left-overs."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_cifar10_reads_official_layout_and_keeps_images_with_their_labels(tmp_path, private_tmp):
    archive = write_cifar10(tmp_path, per_batch=20, test=30)
    raw = read_cifar("cifar10", tmp_path, md5=md5sum(archive))
    x, y = raw.train
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.equal(x[:, 0, 0, 0].long(), 10 * y)  # pixel (0,0) of the R plane encodes the label
    assert raw.test[0].shape == (30, 3, 32, 32) and raw.class_names[9] == "truck"
    assert list(private_tmp.iterdir()) == []  # the extraction folder is gone

    data = prepare_dataset("cifar10", raw_dir=str(tmp_path), val_fraction=0.2, seed=0, md5=None)
    assert {k: len(v[1]) for k, v in data.splits.items()} == {"train": 80, "val": 20, "test": 30}
    for images, labels in data.splits.values():
        assert torch.equal(images[:, 0, 0, 0].long(), 10 * labels)
    assert data.image_shape == (3, 32, 32) and data.num_classes == 10 and data.extra["md5"] == md5sum(archive)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    write_cifar100(tmp_path, train=200, test=100)
    fine = prepare_dataset("cifar100", raw_dir=str(tmp_path), md5=None, val_fraction=0.0)
    coarse = prepare_dataset("cifar100", raw_dir=str(tmp_path), md5=None, val_fraction=0.0, labels="coarse")
    assert fine.num_classes == 100 and coarse.num_classes == 20 and coarse.class_names[3] == "coarse3"
    assert set(fine.splits) == {"train", "test"}
    assert torch.equal(coarse.splits["train"][1], fine.splits["train"][1] // 5)


def test_missing_archive_names_the_file_and_where_to_get_it(tmp_path):
    with pytest.raises(
        MissingRawFileError,
        match=r"cifar-10-python\.tar\.gz not found: download it from "
        r"https://www\.cs\.toronto\.edu/~kriz/cifar-10-python\.tar\.gz",
    ):
        prepare_dataset("cifar10", raw_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz not found"):
        prepare_dataset("mnist", raw_dir=str(tmp_path))


def test_wrong_checksum_is_refused_before_reading(tmp_path, private_tmp):
    write_cifar10(tmp_path)  # a valid archive, but not the official one
    with pytest.raises(RawDataError, match="does not match the published c58f30108f718f92721af3b95e74349a"):
        prepare_dataset("cifar10", raw_dir=str(tmp_path))
    assert list(private_tmp.iterdir()) == []


def test_truncated_archive_gives_a_clear_error_and_no_left_overs(tmp_path, private_tmp):
    archive = write_cifar10(tmp_path)
    blob = archive.read_bytes()
    archive.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(RawDataError, match="truncated or not a readable tar archive"):
        read_cifar("cifar10", tmp_path, md5=None)
    assert list(private_tmp.iterdir()) == []
    with pytest.raises(RawDataError, match="MD5 .* does not match"):
        read_cifar("cifar10", tmp_path, md5="0" * 32)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path, private_tmp):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"data": _RunsCode(marker), "labels": [0]}, protocol=2)
    write_cifar10(tmp_path, replace={"cifar-10-batches-py/data_batch_1": evil})
    with pytest.raises(RawDataError, match=r"data_batch_1: refused to load global (posix|os|nt)\.system"):
        read_cifar("cifar10", tmp_path, md5=None)
    assert not marker.exists()
    assert list(private_tmp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-python.tar.gz", "tmp"]


def test_only_numpy_reconstruction_is_admitted(tmp_path):
    # a numpy global other than array reconstruction is refused too (e.g. numpy.load could read files)
    sneaky = official_pickle({"data": np.zeros((1, 3072), np.uint8), "labels": [0]}).replace(
        b"numpy.core.multiarray\n_reconstruct", b"numpy.lib.npyio\nload"
    )
    write_cifar10(tmp_path, replace={"cifar-10-batches-py/test_batch": sneaky})
    with pytest.raises(RawDataError, match=r"refused to load global numpy\.lib\.npyio\.load"):
        read_cifar("cifar10", tmp_path, md5=None)


def test_path_traversal_member_is_refused(tmp_path, private_tmp):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_tar(raw / "cifar-10-python.tar.gz", {"../escaped.txt": b"x", "cifar-10-batches-py/test_batch": b""})
    with pytest.raises(RawDataError, match="refused unsafe archive member"):
        read_cifar("cifar10", raw, md5=None)
    assert not (tmp_path / "escaped.txt").exists() and not (private_tmp / "escaped.txt").exists()
    assert list(private_tmp.iterdir()) == []


def test_archive_missing_a_batch_is_named(tmp_path):
    write_tar(
        tmp_path / "cifar-10-python.tar.gz", {"cifar-10-batches-py/batches.meta": official_pickle({"label_names": []})}
    )
    with pytest.raises(RawDataError, match="missing cifar-10-batches-py/data_batch_1"):
        read_cifar("cifar10", tmp_path, md5=None)


def test_mnist_idx_files_round_trip_and_checksums(tmp_path):
    write_mnist(tmp_path, train=60, test=30)
    with pytest.raises(
        RawDataError, match="train-images-idx3-ubyte.gz: MD5 .* published f68b3c2dcbeaaa9fbdd348bbdeb94873"
    ):
        read_mnist(tmp_path)
    raw = read_mnist(tmp_path, verify_checksum=False)
    x, y = raw["train"]
    assert x.shape == (60, 1, 28, 28) and torch.equal(x[:, 0, 5, 5].long(), 20 * y + 5)
    data = prepare_dataset(
        "mnist", raw_dir=str(tmp_path), image_size=32, in_chans=3, val_fraction=0.5, verify_checksum=False
    )
    assert data.image_shape == (3, 32, 32) and len(data.splits["test"][1]) == 30 and len(data.splits["val"][1]) == 30


def test_mnist_truncated_or_wrong_magic_is_refused(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) - 20])
    with pytest.raises(RawDataError, match="truncated or not a gzip file"):
        read_mnist(tmp_path, verify_checksum=False)
    write_idx(path, np.zeros((5, 28, 28)))
    with pytest.raises(RawDataError, match="5 images but 60 labels"):
        read_mnist(tmp_path, verify_checksum=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros((4, 2)))
    with pytest.raises(RawDataError, match="not an idx file of unsigned bytes with 1 dimension"):
        read_mnist(tmp_path, verify_checksum=False)


def test_cifar_mnist_stacks_mnist_over_cifar_with_the_documented_splits(tmp_path):
    archive = write_cifar10(tmp_path, per_batch=20, test=40)
    write_mnist(tmp_path, train=60, test=30)
    data = prepare_dataset(
        "cifar_mnist", raw_dir=str(tmp_path), md5=md5sum(archive), verify_checksum=False, val_fraction=0.25, seed=0
    )
    assert data.image_shape == (3, 64, 32) and data.class_names == ["automobile|0", "truck|1"]
    assert data.extra["parts"] == {"easy": {"rows": [0, 32]}, "hard": {"rows": [32, 64]}}
    cifar_cls = torch.tensor([1, 9])
    agreement = {}
    for split, (x, y) in data.splits.items():
        mnist_cls = (x[:, 0, 10, 10].long() - 5) // 20  # easy part: MNIST pixel value encodes its digit
        cifar_lbl = x[:, 0, 32, 0].long() // 10  # hard part: CIFAR pixel (0,0) encodes its class
        assert torch.equal(x[:, :, 0, :], torch.zeros_like(x[:, :, 0, :]))  # MNIST padded by 2 with zeros
        assert set(mnist_cls.tolist()) <= {0, 1} and set(cifar_lbl.tolist()) <= {1, 9}
        agreement[split] = (float((mnist_cls == y).float().mean()), float((cifar_cls[y] == cifar_lbl).float().mean()))
    for split in ("train", "val", "test"):
        assert agreement[split] == (1.0, 1.0)
    assert agreement["hard_only_test"][1] == 1.0 and 0.2 < agreement["hard_only_test"][0] < 0.8
    assert agreement["easy_only_train"][0] == 1.0 and 0.2 < agreement["easy_only_train"][1] < 0.8
    assert len(data.splits["test"][1]) == len(data.splits["hard_only_test"][1]) == 8  # CIFAR test of classes 1, 9
    back = PreparedDataDataset(str(tmp_path / "p.safetensors"))
    back.save(data)
    assert back.load().extra["parts"]["hard"]["rows"] == [32, 64]
