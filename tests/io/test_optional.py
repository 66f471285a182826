"""OptionalDataset: None for data that does not exist yet, everything else delegated."""

import pandas as pd
from kedro.io import AbstractDataset
from kedro_datasets.pandas import CSVDataset

from samlab.io import OptionalDataset


def test_missing_data_loads_none_then_round_trips(tmp_path):
    ds = OptionalDataset(CSVDataset(filepath=str(tmp_path / "t.csv")))
    assert not ds.exists() and ds.load() is None
    ds.save(pd.DataFrame({"a": [1, 2]}))
    assert ds.exists() and ds.load()["a"].tolist() == [1, 2]


def test_built_from_catalog_config(tmp_path):
    pd.DataFrame({"x": [3]}).to_csv(tmp_path / "x.csv", index=False)
    ds = AbstractDataset.from_config(
        "t",
        {
            "type": "samlab.io.OptionalDataset",
            "dataset": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "x.csv")},
        },
    )
    assert isinstance(ds.dataset, CSVDataset) and ds.load()["x"].tolist() == [3]
