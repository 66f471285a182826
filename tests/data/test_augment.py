"""Batched crop-with-padding + flip against a per-sample reference, and its wiring through make_loader."""

import pytest
import torch
import torch.nn.functional as F

from samlab.data import CropFlip, create_augment, make_loader, prepare_dataset


def reference(x, padding, dy, dx, flip):
    """Per-sample crop/flip, the torchvision way (only for checking)."""
    out = []
    for i in range(len(x)):
        p = F.pad(x[i], (padding,) * 4)
        crop = p[:, dy[i] : dy[i] + x.shape[2], dx[i] : dx[i] + x.shape[3]]
        out.append(crop.flip(-1) if flip[i] else crop)
    return torch.stack(out)


def test_batched_crop_flip_equals_the_per_sample_reference():
    x = torch.randint(0, 256, (64, 3, 7, 5), dtype=torch.uint8)
    aug = CropFlip(padding=3, hflip=0.5)
    out = aug(x, torch.Generator().manual_seed(1))
    # replay the same draws the augmentation made
    g = torch.Generator().manual_seed(1)
    dy = torch.randint(0, 7, (64, 1), generator=g).flatten()
    dx = torch.randint(0, 7, (64, 1), generator=g).flatten()
    flip = (torch.rand(64, 1, generator=g) < 0.5).flatten()
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert torch.equal(out, reference(x, 3, dy, dx, flip))
    assert 10 < int(flip.sum()) < 54 and len(set(dy.tolist())) == 7  # the draws do vary


def test_flip_only_and_padding_bounds():
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.uint8).view(2, 1, 2, 3)
    assert torch.equal(CropFlip(0, 1.0)(x, torch.Generator()), x.flip(-1))
    ones = torch.full((500, 1, 4, 4), 255, dtype=torch.uint8)
    out = CropFlip(2, 0.0)(ones, torch.Generator().manual_seed(0))
    zeros_per_image = (out == 0).flatten(1).sum(1)
    assert int(zeros_per_image.max()) == 16 - 4  # worst shift (2, 2) leaves a 2×2 corner of the image
    assert int((zeros_per_image == 0).sum()) > 0  # the centred crop exists too


def test_factory_from_training_params():
    aug = create_augment({"crop_padding": 4, "hflip": True})
    assert isinstance(aug, CropFlip) and aug.padding == 4 and aug.hflip == 0.5
    assert create_augment(None) is None and create_augment({"crop_padding": 0, "hflip": False}) is None
    assert create_augment({"hflip": 0.25}).hflip == 0.25
    with pytest.raises(ValueError, match="unknown augmentation option"):
        create_augment({"cutout": 8})


def test_make_loader_augments_train_batches_only():
    data = prepare_dataset("digits", image_size=8, in_chans=1, split={"train": 0.5, "test": 0.5}, seed=0)
    train = make_loader(data, "train", 32, train=True, seed=0, augment={"crop_padding": 2, "hflip": True})
    plain = make_loader(data, "train", 32, train=True, seed=0)
    (xa, ya), (xp, yp) = next(iter(train)), next(iter(plain))
    assert torch.equal(ya, yp) and not torch.equal(xa, xp) and xa.shape == xp.shape == (32, 1, 8, 8)
    test = make_loader(data, "test", 1000, augment={"crop_padding": 2})  # eval: no augmentation, no shuffle
    x, y = next(iter(test))
    assert torch.equal(y, data.splits["test"][1]) and torch.allclose(x, data.normalise(data.splits["test"][0]))
    toy = prepare_dataset("toy", n_train=40, n_val=4, n_test=4)
    with pytest.raises(ValueError, match="needs images"):
        make_loader(toy, "train", 8, train=True, augment={"hflip": True})
