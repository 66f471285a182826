"""ImageNet's evaluation sets in their real layouts, streamed: ReaL, V2, R/Sketch (named both ways), ImageNet-C."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from samlab.data import MissingRawFileError, RawDataError, prepare_dataset
from samlab.data.eval_sets import build_file_sets, class_index, real
from samlab.evaluate.robustness import evaluate_file_sets, real_accuracy
from samlab.evaluate.test_sets import build_robustness_sets
from tests.data.imagenet_fakes import (
    WNIDS,
    write_class_folders,
    write_imagenet,
    write_real,
    write_v2,
)


def test_real_accuracy_by_hand():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.0, 0.2, 0.3], [0.3, 0.2, 0.1]])  # argmax 1, 0, 2, 0
    sets = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]], dtype=torch.bool)
    assert real_accuracy(logits, sets) == pytest.approx(3 / 4)  # image 2 predicts 0 ∉ {1}


def test_real_reads_label_sets_by_file_number_and_drops_empty_sets(tmp_path):
    names = write_imagenet(tmp_path / "imagenet", WNIDS[:2], n_train=1, n_val=3, size=16)
    labels = [[0], [], [0, 1], [1], [1], []]  # images 2 and 6 have no ReaL label
    write_real(tmp_path / "real.json", labels)
    fs = real("imagenet_real", tmp_path / "imagenet" / "val", tmp_path / "real.json", num_classes=2)
    kept = [n for n, s in zip(names, labels) if s]
    assert [f.rsplit("/", 1)[1] for f in fs.files] == kept and fs.targets == [s for s in labels if s]
    write_real(tmp_path / "bad.json", [[0], [5], [], [], [], []])
    with pytest.raises(RawDataError, match="outside"):
        real("r", tmp_path / "imagenet" / "val", tmp_path / "bad.json", num_classes=2)
    with pytest.raises(MissingRawFileError, match="real.json"):
        real("r", tmp_path / "imagenet" / "val", tmp_path / "missing.json", num_classes=2)


def test_v2_numeric_folders_are_class_indices(tmp_path):
    write_v2(tmp_path / "v2", num_classes=3, per_class=2, size=16)
    (tmp_path / "v2" / "10").mkdir()  # class index out of range for 3 classes
    with pytest.raises(RawDataError, match="not a class index"):
        class_index("v2", tmp_path / "v2", 3)
    (tmp_path / "v2" / "10").rmdir()
    fs = class_index("v2", tmp_path / "v2", 3)
    assert fs.targets == [0, 0, 1, 1, 2, 2]


class ColourModel(nn.Module):
    """Logit k = minus the distance of the mean colour to class k's colour: a fixed, readable classifier."""

    def __init__(self, centres: torch.Tensor):
        super().__init__()
        self.register_buffer("centres", centres)

    def forward(self, x):
        return -torch.cdist(x.mean(dim=(2, 3)), self.centres)


def test_robustness_sets_of_a_streamed_imagenet_are_file_lists_scored_as_the_paper(tmp_path):
    write_imagenet(tmp_path / "imagenet", WNIDS, n_train=2, n_val=2, size=20)
    write_real(tmp_path / "real.json", [[i // 2] if i % 3 else [] for i in range(12)])
    write_v2(tmp_path / "v2", num_classes=6, per_class=1, size=20)
    write_class_folders(tmp_path / "r", WNIDS[:2], per_class=2, size=20)
    write_class_folders(tmp_path / "sketch", WNIDS, per_class=1, size=20)
    prepared = prepare_dataset("image_folder", root=str(tmp_path / "imagenet"), image_size=16)
    cfg = {
        "imagenet_real": {
            "format": "real",
            "root": str(tmp_path / "imagenet/val"),
            "labels": str(tmp_path / "real.json"),
        },
        "imagenet_v2": {"format": "class_index", "root": str(tmp_path / "v2")},
        "imagenet_r": {"format": "class_folders", "root": str(tmp_path / "r"), "masked": "both"},
        "imagenet_sketch": {"format": "class_folders", "root": str(tmp_path / "sketch")},
        "imagenet_c": {"format": "corruption_folders", "root": str(tmp_path / "absent"), "optional": True},
    }
    sets = build_robustness_sets(prepared, eval_sets=cfg)
    assert sets.splits == {}
    assert list(sets.extra["file_sets"]) == [
        "test|none|0",
        "imagenet_real|none|0",
        "imagenet_v2|none|0",
        "imagenet_r|none|0",
        "imagenet_r_2|none|0",
        "imagenet_sketch|none|0",
    ]
    assert sets.extra["file_sets"]["imagenet_r_2|none|0"]["mask"] == [0, 1]
    json.dumps(sets.extra)  # JSON-able: file lists, not pixels
    # a classifier by mean colour, in normalised space: compute each class's centre from its val images
    from samlab.data import make_loader

    xs, ys = zip(*make_loader(prepared, "test", 12, num_workers=0))
    x, y = torch.cat(xs), torch.cat(ys)
    centres = torch.stack([x[y == k].mean(dim=(0, 2, 3)) for k in range(6)])
    table = evaluate_file_sets(
        ColourModel(centres), sets.extra["file_sets"], prepared.mean, prepared.std, 4, num_workers=0
    ).set_index("test_set")
    assert table.loc["test", "accuracy"] == 1.0 and table.loc["test", "n"] == 12
    assert table.loc["imagenet_real", "n"] == 8 and np.isnan(table.loc["imagenet_real", "nll"])
    assert table.loc["imagenet_v2", "accuracy"] == 1.0 and table.loc["imagenet_r_2", "n"] == 4
    assert table.loc["imagenet_r_2", "accuracy"] >= table.loc["imagenet_r", "accuracy"]  # a mask only removes rivals
    with pytest.raises(MissingRawFileError, match="not found"):
        build_file_sets({"imagenet_c": {"format": "corruption_folders", "root": str(tmp_path / "absent")}}, WNIDS)


def test_imagenet_c_folders_become_one_set_per_corruption_and_severity(tmp_path):
    for corruption in ("fog", "snow"):
        for severity in (1, 2):
            write_class_folders(tmp_path / "c" / corruption / str(severity), WNIDS[:2], per_class=1, size=16)
    sets = build_file_sets({"imagenet_c": {"format": "corruption_folders", "root": str(tmp_path / "c")}}, WNIDS)
    assert sorted(sets) == ["imagenet_c|fog|1", "imagenet_c|fog|2", "imagenet_c|snow|1", "imagenet_c|snow|2"]
