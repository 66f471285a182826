"""The robustness and transfer pipelines end to end (with training before them) in a throw-away project copy."""

import pandas as pd
import pytest

from samlab.evaluate.corruptions import available_corruptions
from tests.conftest import kedro


@pytest.mark.slow
def test_robustness_and_transfer_run_end_to_end(project, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models on a shared CPU: one thread is the fast setting
    kedro(project, "run", "--params", "training.epochs=1,robustness.max_test_images=48,transfer.finetune.sgd.epochs=1")
    out = project / "data"
    results = pd.read_csv(out / "08_reporting" / "robustness.csv")
    n_sets = 1 + 5 * len(available_corruptions())
    assert len(results) == 2 * n_sets and list(dict.fromkeys(results["model"])) == ["sgd", "sam"]
    assert (results["n"] == 48).all() and results["accuracy"].between(0, 1).all()
    assert results[results["corruption"] != "none"].groupby(["model", "corruption"]).size().eq(5).all()
    assert results["nll"].gt(0).all() and results["ece"].between(0, 1).all()
    assert (out / "07_model_output" / "sam" / "robustness.csv").exists()
    ce = pd.read_csv(out / "08_reporting" / "ce.csv").set_index(["model", "corruption"])
    assert ce.loc[("sgd", "mean"), "ce"] == pytest.approx(1.0)
    mce = pd.read_csv(out / "08_reporting" / "mce.csv").set_index("model")
    assert mce.loc["sgd", "mce"] == pytest.approx(1.0) and 0 < mce.loc["sam", "mce"] < 10
    assert mce.loc["sam", "mce"] == pytest.approx(ce.loc[("sam", "mean"), "ce"])
    transfer = pd.read_csv(out / "08_reporting" / "transfer.csv")
    assert list(zip(transfer["model"], transfer["method"])) == [
        ("sgd", "finetune_sgd"),
        ("sgd", "linear_probe"),
        ("sam", "finetune_sgd"),
        ("sam", "linear_probe"),
    ]
    assert (transfer["target"] == "digits-parity").all()
    assert transfer["accuracy"].gt(0.6).all(), transfer  # chance on even/odd is 0.5


def test_pipelines_have_one_namespace_per_variant(project, monkeypatch):
    monkeypatch.chdir(project)
    from kedro.framework.project import configure_project, pipelines

    configure_project("samlab")
    for name, output in (("robustness", "robustness"), ("transfer", "transfer")):
        pipe = pipelines[name]
        assert {n.namespace for n in pipe.nodes} == {None, "sgd", "sam"}
        assert {"sgd.model", "sam.model", "prepared_data"} == pipe.inputs() - {f"params:{name}"}
        assert {f"sgd.{output}", f"sam.{output}"} <= pipe.all_outputs()
    assert {"robustness_accuracy", "robustness_ce", "robustness_mce", "transfer_accuracy"} <= pipelines[
        "__default__"
    ].all_outputs()
    assert {"robustness_accuracy", "robustness_mce", "transfer_accuracy"} <= pipelines["reporting"].inputs()
