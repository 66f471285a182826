import numpy as np
import pytest
import torch

from samlab.data import PreparedData, TensorLoader, digits_images, prepare_digits, stratified_split

SPLIT = {"train": 0.7, "val": 0.15, "test": 0.15}


def test_digits_are_the_real_sklearn_images_resized():
    images, labels = digits_images(image_size=16, in_chans=3)
    assert images.shape == (1797, 3, 16, 16) and images.dtype == torch.uint8
    assert torch.equal(images[:, 0], images[:, 2])  # grey replicated
    assert sorted(labels.unique().tolist()) == list(range(10))
    native, _ = digits_images(image_size=8)
    assert int(native.max()) == 255 and int(native.min()) == 0


def test_split_is_fixed_disjoint_stratified_and_complete():
    labels = digits_images(8)[1].numpy()
    a, b = stratified_split(labels, SPLIT, seed=0), stratified_split(labels, SPLIT, seed=0)
    for k in SPLIT:
        assert np.array_equal(a[k], b[k])
    allidx = np.concatenate(list(a.values()))
    assert len(allidx) == len(labels) == len(np.unique(allidx))
    test_counts = np.bincount(labels[a["test"]], minlength=10)
    assert test_counts.min() >= 25  # every class in every split (≈27 each)


def test_split_and_statistics_do_not_depend_on_the_order_of_the_keys():
    # a config written with sorted keys (yaml.safe_dump: test, train, val) is the same config
    shuffled = {"test": 0.15, "val": 0.15, "train": 0.7}
    labels = digits_images(8)[1].numpy()
    a, b = stratified_split(labels, SPLIT, seed=0), stratified_split(labels, shuffled, seed=0)
    assert list(b) == ["train", "val", "test"] and all(np.array_equal(a[k], b[k]) for k in SPLIT)
    assert [len(a[k]) for k in SPLIT] == [1257, 269, 271]
    x, y = prepare_digits(8, 1, SPLIT, seed=0), prepare_digits(8, 1, shuffled, seed=0)
    assert x.mean == y.mean and x.std == y.std  # normalisation statistics from train, not the first key


def test_prepared_digits_normalise_to_zero_mean_unit_std_on_train():
    data = prepare_digits(16, 1, SPLIT, seed=0)
    x = data.normalise(data.splits["train"][0])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    assert data.num_classes == 10 and data.image_shape == (1, 16, 16)


def test_prepared_data_round_trips_through_tensors():
    data = prepare_digits(8, 1, SPLIT, seed=1)
    back = PreparedData.from_tensors(*data.to_tensors())
    assert back.class_names == data.class_names and back.mean == data.mean
    for k in data.splits:
        assert torch.equal(back.splits[k][0], data.splits[k][0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": 4}, "image_size must be >= 8"),
        ({"in_chans": 2}, "in_chans must be 1 or 3"),
        ({"split": {"train": 0.5, "test": 0.2}}, "sum to 1"),
    ],
)
def test_bad_digits_config_is_refused(kwargs, message):
    cfg = {"image_size": 16, "in_chans": 1, "split": SPLIT, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        prepare_digits(**cfg)


def test_loader_covers_every_sample_once_per_epoch_and_reshuffles():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    labels = torch.arange(10)
    loader = TensorLoader(images, labels, 4, lambda x: x.float(), shuffle=True, seed=0)
    first = torch.cat([y for _, y in loader])
    second = torch.cat([y for _, y in loader])
    assert sorted(first.tolist()) == list(range(10)) and len(loader) == 3
    assert not torch.equal(first, second)
    for x, y in loader:
        assert torch.equal(x.view(-1), y.float())
