"""Probes on a model whose features are its inputs: the informative pixel is probed perfectly, noise is not."""

import numpy as np
import pytest
import torch
from torch import nn

from samlab.evaluate.probes import PROBE_COLUMNS, linear_probe, probe_table
from samlab.data import PreparedData


class Identity(nn.Module):
    def forward_features(self, x):
        return x.flatten(1)

    def forward_head(self, x, pre_logits=False):
        return x


def probe_data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)

    def split(feature):
        y = torch.randint(0, 2, (n,), generator=g)
        other = torch.randint(0, 2, (n,), generator=g)
        # pixel 0 = "easy" feature, pixel 1 = "hard" feature; in F_only splits the other pixel has an independent label
        easy, hard = (y, other) if feature == "easy" else (other, y)
        noise = torch.randint(0, 40, (n, 2), generator=g)
        img = (torch.stack([easy, hard], 1) * 150 + noise).to(torch.uint8)
        return img.view(n, 1, 1, 2), y

    splits = {f"{f}_only_{s}": split(f) for f in ("easy", "hard") for s in ("train", "test")}
    return PreparedData("probe", splits, (0.3,), (0.3,), ["0", "1"])


def test_probe_table_keeps_only_the_feature_the_model_exposes():
    data = probe_data()

    # the model sees only pixel 0 (easy): its features carry nothing of the hard feature
    class EasyOnly(Identity):
        def forward_features(self, x):
            return x.flatten(1)[:, :1]

    both = probe_table(Identity(), data).set_index("feature")
    easy_only = probe_table(EasyOnly(), data).set_index("feature")
    assert list(probe_table(Identity(), data).columns) == PROBE_COLUMNS
    assert both.loc["easy", "accuracy"] == 1.0 and both.loc["hard", "accuracy"] == 1.0
    assert easy_only.loc["easy", "accuracy"] == 1.0
    assert abs(easy_only.loc["hard", "accuracy"] - 0.5) < 0.15 and easy_only.loc["hard", "n_test"] == 200


def test_probe_table_is_empty_without_probe_splits_and_probe_needs_two_classes():
    data = PreparedData(
        "x",
        {"train": (torch.zeros(4, 1, 1, 2, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))},
        (0.5,),
        (0.5,),
        ["0"],
    )
    assert probe_table(Identity(), data).empty
    with pytest.raises(ValueError, match="two classes"):
        linear_probe(np.zeros((3, 2)), np.zeros(3), np.zeros((3, 2)), np.zeros(3))
