"""Image folders (ImageNet layout, PNGs written here) streamed through timm's dataset + a worker DataLoader."""

import numpy as np
import pytest
import torch
from PIL import Image

from samlab.data import MissingRawFileError, RawDataError, make_loader, prepare_dataset
from samlab.io import PreparedDataDataset

CLASSES = ["n01440764", "n02102040", "n02979186"]


def write_folder(root, per_class):
    """Class c's images are flat grey 40·(c+1) so labels can be read back from pixels."""
    for split, n in per_class.items():
        for c, wnid in enumerate(CLASSES):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((12 + i, 10, 3), 40 * (c + 1), np.uint8)).save(folder / f"{wnid}_{i}.png")
    return root


def test_image_folder_prepares_geometry_and_streams_batches(tmp_path):
    root = write_folder(tmp_path / "imagenet", {"train": 4, "val": 2})
    data = prepare_dataset("image_folder", root=str(root), image_size=8, mean=[0.0] * 3, std=[1.0] * 3)
    assert data.kind == "stream" and data.splits == {} and data.class_names == CLASSES
    assert data.image_shape == (3, 8, 8) and data.extra["counts"] == {"train": 12, "test": 6}
    ds = PreparedDataDataset(str(tmp_path / "p.safetensors"))
    ds.save(data)
    data = ds.load()
    assert data.kind == "stream" and data.extra["split_dirs"] == {"train": "train", "test": "val"}

    test = make_loader(data, "test", 4, num_workers=0)
    xs, ys = zip(*test)
    x, y = torch.cat(xs), torch.cat(ys)
    assert len(test) == 2 and x.shape == (6, 3, 8, 8) and x.dtype == torch.float32
    assert torch.allclose(x.mean((1, 2, 3)), 40 * (y + 1).float() / 255, atol=0.01)  # labels follow folders
    train = make_loader(data, "train", 5, train=True, seed=0, num_workers=1)  # worker processes
    batches = list(train)
    assert len(train) == 2 and all(b[0].shape == (5, 3, 8, 8) for b in batches)  # last partial batch dropped
    for xb, yb in batches:
        assert torch.allclose(xb.mean((1, 2, 3)), 40 * (yb + 1).float() / 255, atol=0.01)


def test_image_folder_missing_or_inconsistent_is_a_clear_error(tmp_path):
    with pytest.raises(
        MissingRawFileError, match=r"image folder .*imagenet/train \(split 'train'\) not found.*image-net\.org"
    ):
        prepare_dataset("image_folder", root=str(tmp_path / "imagenet"))
    root = write_folder(tmp_path / "imagenet", {"train": 1, "val": 1})
    (root / "val" / "n99999999").mkdir()
    with pytest.raises(RawDataError, match=r"class folder\(s\) \['n99999999'\] not in the train split"):
        prepare_dataset("image_folder", root=str(root))
