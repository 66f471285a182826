"""mCE, ECE and the tidy evaluation table against hand-computed values; the test-set builder's readers."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from samlab.data import PreparedData
from samlab.evaluate import expected_calibration_error
from samlab.evaluate.robustness import corruption_errors, evaluate_sets, parse_set_key, set_key
from samlab.evaluate.test_sets import build_robustness_sets, read_image_folder

PROBS = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.4, 0.3, 0.3]])
LABELS = torch.tensor([0, 0, 2, 1])  # correct, wrong, correct, wrong


def test_ece_by_hand():
    # 2 bins: (0, .5] holds sample 3 (conf .4, acc 0); (.5, 1] holds 0-2 (mean conf .7667, acc 2/3)
    expected = 1 / 4 * abs(0 - 0.4) + 3 / 4 * abs(2 / 3 - (0.9 + 0.8 + 0.6) / 3)
    assert expected_calibration_error(PROBS, LABELS, n_bins=2) == pytest.approx(0.175)
    assert expected == pytest.approx(0.175)


def _table(rows):
    return pd.DataFrame(
        [{"model": m, "test_set": "test", "corruption": c, "severity": s, "error": e} for m, c, s, e in rows]
    )


def test_mce_and_relative_mce_by_hand():
    rows = [
        ("sgd", "none", 0, 0.1),
        ("sgd", "a", 1, 0.2),
        ("sgd", "a", 2, 0.4),
        ("sgd", "b", 1, 0.3),
        ("sgd", "b", 2, 0.5),
        ("sam", "none", 0, 0.05),
        ("sam", "a", 1, 0.1),
        ("sam", "a", 2, 0.3),
        ("sam", "b", 1, 0.3),
        ("sam", "b", 2, 0.3),
    ]
    out = corruption_errors(_table(rows), baseline="sgd").set_index(["model", "corruption"])
    assert out.loc[("sam", "a"), "ce"] == pytest.approx(0.4 / 0.6)
    assert out.loc[("sam", "b"), "ce"] == pytest.approx(0.6 / 0.8)
    assert out.loc[("sam", "mean"), "ce"] == pytest.approx((0.4 / 0.6 + 0.75) / 2)
    # relative: Σ(err − clean): sgd a 0.4, b 0.6; sam a 0.05 + 0.25, b 0.25 + 0.25
    assert out.loc[("sam", "a"), "relative_ce"] == pytest.approx(0.3 / 0.4)
    assert out.loc[("sam", "mean"), "relative_ce"] == pytest.approx((0.75 + 0.5 / 0.6) / 2)
    assert out.loc[("sgd", "mean"), "ce"] == pytest.approx(1.0) and out.loc[
        ("sgd", "mean"), "relative_ce"
    ] == pytest.approx(1.0)
    assert list(dict.fromkeys(out.index.get_level_values("model"))) == ["sgd", "sam"]
    with pytest.raises(ValueError, match="baseline"):
        corruption_errors(_table(rows), baseline="obf")


class _Lookup(nn.Module):
    """Returns row ``x[i, 0, 0, 0]`` of a fixed logit table: a model whose predictions are known by hand."""

    def __init__(self, logits):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x):
        return self.logits[x[:, 0, 0, 0].long()]


def test_evaluate_sets_rows_nll_ece_and_class_masking():
    images = torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 1, 2, 2).contiguous()
    sets = {
        set_key("test"): (images, LABELS),
        set_key("test", "fog", 3): (images, LABELS),
        set_key("folder"): (images, LABELS),
    }
    table = evaluate_sets(
        _Lookup(PROBS.log()), sets, lambda x: x.float(), batch_size=3, class_subsets={"folder": [1, 2]}, n_bins=2
    )
    assert list(zip(table.test_set, table.corruption, table.severity)) == [
        ("test", "none", 0),
        ("test", "fog", 3),
        ("folder", "none", 0),
    ]
    row = table.iloc[0]
    assert row.accuracy == pytest.approx(0.5) and row.error == pytest.approx(0.5) and row.ece == pytest.approx(0.175)
    assert row.nll == pytest.approx(-(math.log(0.9) + math.log(0.1) + math.log(0.6) + math.log(0.3)) / 4, rel=1e-5)
    # masked to classes 1, 2: predictions become 1, 1, 2, 1 → samples 2 and 3 right
    assert table.iloc[2].accuracy == pytest.approx(0.5) and table.iloc[2].nll > row.nll
    assert parse_set_key("hard_only_test|none|0") == ("hard_only_test", "none", 0)
    with pytest.raises(ValueError, match="test_set"):
        parse_set_key("test")


def _prepared(n=4, size=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 1])[:n]
    return PreparedData(
        "tiny",
        {"train": (x, y), "test": (x.clone(), y.clone()), "hard_only_test": (x.flip(0), y)},
        (0.5,) * 3,
        (0.25,) * 3,
        ["a", "b", "c"],
    )


def test_build_sets_reads_cifar_c_files_generates_the_rest_and_adds_shifted_sets(tmp_path):
    prepared = _prepared()
    files = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "gaussian_noise.npy", files)
    np.save(tmp_path / "labels.npy", np.tile([2, 0, 1, 1], 5).astype(np.uint8))
    sets = build_robustness_sets(prepared, ["gaussian_noise", "contrast"], [1, 5], corrupted_npy=str(tmp_path))
    assert set(sets.splits) == {
        "test|none|0",
        "test|gaussian_noise|1",
        "test|gaussian_noise|5",
        "test|contrast|1",
        "test|contrast|5",
        "hard_only_test|none|0",
    }
    x5, y5 = sets.splits["test|gaussian_noise|5"]
    assert torch.equal(x5, torch.from_numpy(files[16:20]).permute(0, 3, 1, 2)) and y5.tolist() == [2, 0, 1, 1]
    assert json.loads(sets.extra["corruption_sources"]) == {"gaussian_noise": "npy", "contrast": "generated"}
    assert torch.equal(sets.splits["test|contrast|1"][1], prepared.splits["test"][1])
    small = build_robustness_sets(prepared, ["contrast"], [1], max_test_images=2)
    assert small.splits["test|none|0"][0].shape[0] == 2 and small.splits["hard_only_test|none|0"][0].shape[0] == 2
    tensors, meta = sets.to_tensors()  # saves as safetensors (no shared storage between splits)
    assert PreparedData.from_tensors(tensors, meta).splits.keys() == sets.splits.keys()


def test_image_folder_reader(tmp_path):
    from PIL import Image

    for cls, colour in (("a", (255, 0, 0)), ("c", (0, 0, 255))):
        (tmp_path / "set" / cls).mkdir(parents=True)
        for k in range(2):
            Image.new("RGB", (20 + k, 12), colour).save(tmp_path / "set" / cls / f"{k}.png")
    (tmp_path / "set" / "a" / "notes.txt").write_text("not an image")
    x, y, classes = read_image_folder(tmp_path / "set", ["a", "b", "c"], image_size=8, channels=3)
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.uint8 and y.tolist() == [0, 0, 2, 2] and classes == [0, 2]
    assert x[0, 0].float().mean() > 250 and x[3, 2].float().mean() > 250
    sets = build_robustness_sets(_prepared(), [], image_folders={"sketch": str(tmp_path / "set")})
    spec = sets.extra["file_sets"]["sketch|none|0"]  # streamed at evaluation, masked to the classes it covers
    assert "sketch|none|0" not in sets.splits and spec["mask"] == [0, 2] and spec["targets"] == [0, 0, 2, 2]
    with pytest.raises(ValueError, match="not among"):
        read_image_folder(tmp_path / "set", ["a", "b"], 8, 3)


def test_feature_data_gets_clean_and_shifted_sets_only():
    from samlab.data import prepare_dataset

    toy = prepare_dataset("toy", n_train=40, n_val=10, n_test=20, seed=0)
    sets = build_robustness_sets(toy)
    assert set(sets.splits) == {"test|none|0", "hard_only_test|none|0", "easy_only_test|none|0"}


def test_npy_files_of_another_image_shape_are_not_used(tmp_path):
    np.save(tmp_path / "contrast.npy", np.zeros((10, 32, 32, 3), dtype=np.uint8))
    np.save(tmp_path / "labels.npy", np.zeros(10, dtype=np.uint8))
    sets = build_robustness_sets(_prepared(), ["contrast"], [1], corrupted_npy=str(tmp_path))
    assert json.loads(sets.extra["corruption_sources"]) == {"contrast": "generated"}
    assert sets.splits["test|contrast|1"][0].shape == (4, 3, 8, 8)


def test_streamed_data_lists_its_image_folder_sets_without_reading_them(tmp_path):
    from PIL import Image

    (tmp_path / "r" / "b").mkdir(parents=True)
    Image.new("RGB", (10, 10), (0, 255, 0)).save(tmp_path / "r" / "b" / "0.png")
    stream = PreparedData("imagenet", {}, (0.5,) * 3, (0.25,) * 3, ["a", "b"], {"image_shape": [3, 8, 8]})
    sets = build_robustness_sets(stream, image_folders={"rendition": str(tmp_path / "r")})
    assert sets.splits == {} and list(sets.extra["file_sets"]) == ["rendition|none|0"]
    spec = sets.extra["file_sets"]["rendition|none|0"]
    assert spec["files"] == [str(tmp_path / "r" / "b" / "0.png")] and spec["targets"] == [1] and spec["mask"] == [1]
    empty = build_robustness_sets(stream)
    assert empty.splits == {} and empty.kind == "stream" and empty.extra["file_sets"] == {}
    tensors, meta = empty.to_tensors()
    assert PreparedData.from_tensors(tensors, meta).image_shape == (3, 8, 8)
