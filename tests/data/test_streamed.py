"""One data interface for tensor and streamed sets: split names/sizes, loaders, the fixed subset, resized inputs."""

import pytest
import torch
import torch.nn.functional as F

from samlab.data import (
    CentreCrop,
    PreparedData,
    ResizedCropFlip,
    load_subset,
    make_loader,
    prepare_dataset,
    subset_indices,
)
from tests.data.imagenet_fakes import WNIDS, write_imagenet


@pytest.fixture
def imagenet(tmp_path):
    write_imagenet(tmp_path / "imagenet", WNIDS[:3], n_train=4, n_val=2, size=24)
    return prepare_dataset("image_folder", root=str(tmp_path / "imagenet"), image_size=16)


def test_streamed_and_tensor_sets_answer_the_same_questions(imagenet):
    assert imagenet.kind == "stream" and imagenet.split_names == ["train", "test"]
    assert imagenet.split_size("train") == 12 and imagenet.split_size("test") == 6 and not imagenet.has_split("val")
    x, y = next(iter(make_loader(imagenet, "test", 4, num_workers=0)))
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32 and y.tolist() == [0, 0, 1, 1]
    with pytest.raises(KeyError, match="no split 'val'"):
        make_loader(imagenet, "val", 4)
    digits = prepare_dataset(
        "digits", image_size=8, in_chans=1, split={"train": 0.7, "val": 0.15, "test": 0.15}, seed=0
    )
    assert (
        digits.split_names == ["train", "val", "test"]
        and digits.split_size("test") == digits.splits["test"][1].shape[0]
    )


def test_fixed_subset_is_the_first_images_through_the_eval_transform(imagenet):
    x, y = load_subset(imagenet, "train", size=5, order="first", batch_size=2, num_workers=0)
    assert x.shape == (5, 3, 16, 16) and y.tolist() == [0, 0, 0, 0, 1]  # dataset order: class by class
    x2, _ = load_subset(imagenet, "train", size=5, order="first", batch_size=5, num_workers=0)
    assert torch.equal(x, x2)  # deterministic: no train augmentation
    assert subset_indices(10, 3, order="first").tolist() == [0, 1, 2]
    r = subset_indices(10, 3, seed=1)
    assert r.tolist() == sorted(r.tolist()) and len(set(r.tolist())) == 3
    digits = prepare_dataset(
        "digits", image_size=8, in_chans=1, split={"train": 0.7, "val": 0.15, "test": 0.15}, seed=0
    )
    images, labels = digits.splits["train"]
    xs, ys = load_subset(digits, "train", size=7, seed=3)
    idx = subset_indices(images.shape[0], 7, seed=3)
    assert torch.equal(xs, digits.normalise(images[idx])) and torch.equal(ys, labels[idx])


def test_whole_image_crop_is_a_bilinear_resize_and_flip_mirrors():
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    rrc = ResizedCropFlip(20, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0)
    out = rrc(x, torch.Generator().manual_seed(0))
    ref = F.interpolate(x.float(), size=(20, 20), mode="bilinear", align_corners=False)
    assert torch.allclose(out, ref, atol=1e-3)
    flipped = ResizedCropFlip(20, scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=1.0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(flipped, ref.flip(-1), atol=1e-3)


def test_random_resized_crop_boxes_follow_scale_and_ratio():
    rrc = ResizedCropFlip(16, scale=(0.05, 1.0))
    boxes = rrc.boxes(2000, 32, 32, torch.Generator().manual_seed(0))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 32).all() and (boxes[:, 3] <= 32).all()
    area = w * h / 1024
    assert area.min() >= 0.03 and area.max() <= 1.0 and area.std() > 0.15  # rounding moves the edges a little
    assert ((w / h) >= 0.6).all() and ((w / h) <= 1.7).all()


def test_centre_crop_takes_the_central_crop_pct_then_resizes():
    x = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8).expand(1, 3, 8, 8)
    out = CentreCrop(4, crop_pct=0.5)(x)  # central 4×4 of 8×8 at the same size: exactly those pixels
    assert torch.allclose(out, x[:, :, 2:6, 2:6])


def test_tensor_set_shown_at_another_size(tmp_path):
    digits = prepare_dataset(
        "digits", image_size=8, in_chans=1, split={"train": 0.7, "val": 0.15, "test": 0.15}, seed=0
    )
    digits.extra["input"] = {"size": 12, "crop_pct": 0.875, "train_scale": [0.5, 1.0]}
    assert digits.image_shape == (1, 12, 12)
    xt, _ = next(iter(make_loader(digits, "train", 5, train=True)))
    xe, ye = next(iter(make_loader(digits, "test", 5)))
    assert xt.shape == xe.shape == (5, 1, 12, 12)
    ref = CentreCrop(12, 0.875)(digits.splits["test"][0][:5])
    assert torch.allclose(xe, digits.normalise(ref)) and torch.equal(ye, digits.splits["test"][1][:5])
    with pytest.raises(ValueError, match="own train augmentation"):
        make_loader(digits, "train", 5, train=True, augment={"crop_padding": 2})


def test_prepared_stream_round_trips_with_split_names(imagenet):
    tensors, meta = imagenet.to_tensors()
    back = PreparedData.from_tensors(tensors, meta)
    assert back.split_names == ["train", "test"] and back.split_size("train") == 12


def test_each_rank_loads_its_share_of_the_global_batch_in_the_loops_order():
    from samlab.data.image_folder import GlobalBatchSampler

    def batches(world, rank):
        return list(GlobalBatchSampler(20, 8, 2, world, rank, torch.Generator().manual_seed(3)))

    single = batches(1, 0)
    r0, r1 = batches(2, 0), batches(2, 1)
    assert len(single) == len(r0) == 2 and all(len(b) == 4 for b in r0 + r1)
    for whole, a, b in zip(single, r0, r1):
        # micro-batch k of the update = [rank 0's k-th half, rank 1's k-th half], as the loop's chunk-then-shard
        assert whole == a[:2] + b[:2] + a[2:] + b[2:]
        assert len({seed for _, seed in whole}) == 1  # one augmentation seed per epoch, the same on every rank
    with pytest.raises(ValueError, match="does not split"):
        GlobalBatchSampler(20, 6, 2, 4, 0, torch.Generator())


def test_a_training_image_gets_the_same_augmentation_whoever_loads_it(imagenet):
    from samlab.data.image_folder import SeededSamples

    loader = make_loader(imagenet, "train", 4, train=True, num_workers=0)
    dataset = loader.loader.dataset
    assert isinstance(dataset, SeededSamples)
    a, _ = dataset[(5, 123)]
    torch.manual_seed(99)
    b, _ = dataset[(5, 123)]
    c, _ = dataset[(5, 124)]
    assert torch.equal(a, b) and not torch.equal(a, c)
    x, _ = next(iter(loader))
    assert x.shape == (4, 3, 16, 16) and not getattr(loader, "per_rank", False)
