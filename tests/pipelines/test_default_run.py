"""The default pipeline end to end in a throw-away copy of the project, with few epochs."""

import json

import pandas as pd
import plotly.io as pio
import pytest

from samlab.io import TorchCheckpointDataset
from samlab.models import model_from_checkpoint
from tests.conftest import kedro


@pytest.mark.slow
def test_default_run_trains_sgd_and_sam_and_reports(project):
    kedro(project, "run", "--params", "training.epochs=6")
    data = project / "data"
    assert (data / "05_model_input" / "prepared.safetensors").stat().st_size > 100_000
    for ns in ("sgd", "sam"):
        model = model_from_checkpoint(TorchCheckpointDataset(str(data / "06_models" / ns / "model.pt")).load())
        assert sum(p.numel() for p in model.parameters()) > 10_000
        history = pd.read_csv(data / "07_model_output" / ns / "history.csv")
        assert list(history["epoch"]) == [1, 2, 3, 4, 5, 6]
        assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
        metrics = json.loads((data / "07_model_output" / ns / "metrics.json").read_text())
        assert metrics["test_accuracy"] > 0.5, metrics  # chance is 0.1
        assert 0 < metrics["test_loss"] < 2.3
    assert history["perturbed_loss"].notna().all() and history["rho"].sub(0.05).abs().max() < 1e-9  # sam's
    fig = pio.from_json((data / "08_reporting" / "learning_curves.json").read_text())
    assert {t.name for t in fig.data} >= {"sgd train", "sgd val", "sam train", "sam val"}
    summary = pd.read_csv(data / "08_reporting" / "summary.csv")
    assert list(summary["variant"]) == ["sgd", "sam"]
    assert "| sam | sam |" in (data / "08_reporting" / "summary.md").read_text()


def test_registry_has_every_pipeline_and_a_namespace_per_variant(project, monkeypatch):
    monkeypatch.chdir(project)
    from kedro.framework.project import configure_project, pipelines

    configure_project("samlab")
    names = set(pipelines)
    assert {"__default__", "data_preparation", "training", "reporting"} <= names
    training = pipelines["training"]
    assert {n.namespace for n in training.nodes} == {"sgd", "sam"}
    assert {"sgd.model", "sam.metrics"} <= training.all_outputs()


@pytest.mark.slow
def test_adding_a_variant_is_one_entry_of_the_variants_map(project):
    params = project / "conf" / "base" / "parameters_training.yml"
    text = params.read_text()
    assert text.rstrip().splitlines()[-1].startswith("      ")  # the file ends inside the `variants:` map
    params.write_text(
        text + "\n  sam_wide:\n    model: {name: samlab_cnn}\n    optimizer: {name: sam, lr: 0.05, rho: 0.2}"
        "\n    training: {epochs: 1}\n"
    )
    kedro(project, "run", "--pipelines", "data_preparation")
    kedro(project, "run", "--namespaces", "sam_wide", "--params", "training.epochs=3")
    history = pd.read_csv(project / "data" / "07_model_output" / "sam_wide" / "history.csv")
    assert len(history) == 1 and abs(history["rho"].iloc[0] - 0.2) < 1e-9  # its own epochs and rho win
    assert not (project / "data" / "06_models" / "sam").exists()
