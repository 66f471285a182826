"""The embedded two-feature sets: toy (easy linear + spiral) and digit dominoes (colour over digit)."""

import math

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from samlab.data import TWO_FEATURE_SPLITS, prepare_dataset
from samlab.data.toy import spiral_feature
from samlab.io import PreparedDataDataset


def _acc(model, data, split, cols):
    x, y = data.splits[split]
    return model.score(cols(x), y.numpy())


def test_spiral_is_the_documented_curve():
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1, 0, 1])
    x = spiral_feature(y, turns=1.5, sigma=0.0, gen=gen)
    t = x.norm(dim=1)  # radius is t
    theta = 2 * math.pi * 1.5 * t + math.pi * y
    assert torch.allclose(x, torch.stack([t * torch.cos(theta), t * torch.sin(theta)], 1), atol=1e-5)


def test_toy_features_carry_the_label_only_where_the_split_says():
    data = prepare_dataset("toy", n_train=600, n_val=50, n_test=400, turns=1.0, seed=0)
    assert set(data.splits) == set(TWO_FEATURE_SPLITS) and data.kind == "features"
    assert data.image_shape == (3, 1, 1) and data.extra["easy_dims"] == [0] and data.extra["hard_dims"] == [1, 2]
    assert torch.equal(data.normalise(data.splits["test"][0]), data.splits["test"][0])  # identity
    for split, (x, y) in data.splits.items():
        assert x.dtype == torch.float32 and abs(float(y.float().mean()) - 0.5) < 0.01, split  # balanced
    easy = lambda x: x[:, :1].numpy()  # noqa: E731
    hard = lambda x: x[:, 1:].numpy()  # noqa: E731
    lin = LogisticRegression().fit(easy(data.splits["train"][0]), data.splits["train"][1].numpy())
    knn = KNeighborsClassifier(5).fit(hard(data.splits["train"][0]), data.splits["train"][1].numpy())
    assert _acc(lin, data, "easy_only_test", easy) > 0.97 and _acc(knn, data, "hard_only_test", hard) > 0.9
    assert abs(_acc(lin, data, "hard_only_test", easy) - 0.5) < 0.1  # easy part random there
    assert abs(_acc(knn, data, "easy_only_test", hard) - 0.5) < 0.1  # hard part random there
    # the spiral is not linearly separable: a linear probe on it is near chance
    assert (
        LogisticRegression()
        .fit(hard(data.splits["train"][0]), data.splits["train"][1].numpy())
        .score(hard(data.splits["hard_only_test"][0]), data.splits["hard_only_test"][1].numpy())
        < 0.75
    )


def test_toy_is_seeded_and_saves_as_float_features(tmp_path):
    a = prepare_dataset("toy", n_train=20, n_val=4, n_test=10, seed=3, easy_dim=2)
    b = prepare_dataset("toy", n_train=20, n_val=4, n_test=10, seed=3, easy_dim=2)
    assert torch.equal(a.splits["train"][0], b.splits["train"][0]) and a.image_shape == (4, 1, 1)
    ds = PreparedDataDataset(str(tmp_path / "toy.safetensors"))
    ds.save(a)
    back = ds.load()
    assert back.kind == "features" and back.extra["hard_dims"] == [2, 3] and back.extra["turns"] == 2.0
    assert back.extra["parts"] == {"easy": {"dims": [0, 1]}, "hard": {"dims": [2, 3]}}
    assert torch.equal(back.splits["easy_only_test"][0], a.splits["easy_only_test"][0])


def test_dominoes_parts_carry_the_label_only_where_the_split_says():
    data = prepare_dataset("dominoes", image_size=8, in_chans=3, seed=0)
    assert data.image_shape == (3, 16, 8) and set(data.splits) == set(TWO_FEATURE_SPLITS)
    assert data.extra["parts"] == {"easy": {"rows": [0, 8]}, "hard": {"rows": [8, 16]}}
    top = lambda x: x[:, :, :8].float().mean((2, 3)).numpy()  # noqa: E731  (mean colour of the easy part)
    bottom = lambda x: x[:, 0, 8:].reshape(len(x), -1).float().numpy() / 255  # noqa: E731
    xtr, ytr = data.splits["train"]
    easy = LogisticRegression(max_iter=2000).fit(top(xtr), ytr.numpy())
    hard = LogisticRegression(max_iter=2000).fit(bottom(xtr), ytr.numpy())
    assert _acc(easy, data, "easy_only_test", top) > 0.95 and _acc(hard, data, "hard_only_test", bottom) > 0.85
    assert _acc(easy, data, "hard_only_test", top) < 0.25 and _acc(hard, data, "easy_only_test", bottom) < 0.25
    # each hard image of a split used exactly once per variant: the digits under test and hard_only_test agree
    assert torch.equal(data.splits["test"][0][:, :, 8:], data.splits["hard_only_test"][0][:, :, 8:])


def test_dominoes_grey_two_classes_and_bad_config():
    data = prepare_dataset("dominoes", image_size=8, in_chans=1, classes=[3, 8], seed=1)
    assert data.class_names == ["3", "8"] and data.image_shape == (1, 16, 8)
    levels = data.splits["train"][0][:, 0, :8].float().mean((1, 2))
    y = data.splits["train"][1]
    assert levels[y == 0].mean() < 90 and levels[y == 1].mean() > 160  # grey 64 vs 191 (+ noise)
    with pytest.raises(ValueError, match="classes must be >= 2 distinct digits"):
        prepare_dataset("dominoes", classes=[3])
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        prepare_dataset("nope")
