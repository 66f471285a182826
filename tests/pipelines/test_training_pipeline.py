"""The training pipeline in Kedro: per-epoch checkpoints through the catalog, resume, the `variants`
environment, and rank-0-only writes under torchrun."""

from __future__ import annotations

import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from samlab.hooks import RankZeroWritesHook
from samlab.io import TorchCheckpointDataset, TrainingCheckpointsDataset
from samlab.train import CheckpointStore
from tests.conftest import kedro

TINY = "model.name=samlab_cnn,training.epochs=2,training.warmup_epochs=0"


@pytest.mark.slow
def test_checkpoints_every_epoch_resume_and_the_variants_environment(project, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny model: one thread is fastest and spares shared cores
    from samlab.data import prepare_digits
    from samlab.io import PreparedDataDataset

    # what `kedro run --pipeline data_preparation` writes, without paying for a third kedro process
    PreparedDataDataset(str(project / "data" / "05_model_input" / "prepared.safetensors")).save(
        prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0))
    kedro(project, "run", "--env", "variants", "--namespaces", "obf", "--params", TINY)
    models = project / "data" / "06_models"
    store = CheckpointStore(models / "obf" / "checkpoints")
    assert store.epochs() == [1, 2]
    state = store.latest()
    assert state["optimizer"]["wrapper"]["ascent"]["name"] == "obf" and len(state["history"]) == 2
    first = TorchCheckpointDataset(str(models / "obf" / "model.pt")).load()["state_dict"]
    assert all(torch.equal(first[k], state["model"][k]) for k in first)
    assert not (models / "sam").exists()  # only the namespace asked for

    # resume: true after a finished run trains nothing and writes the same weights again
    proc = kedro(project, "run", "--env", "variants", "--namespaces", "obf", "--params", TINY + ",training.resume=true")
    assert "resuming after epoch 2/2" in proc.stdout + proc.stderr
    again = TorchCheckpointDataset(str(models / "obf" / "model.pt")).load()["state_dict"]
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_variants_environment_adds_every_paper_variant(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("KEDRO_ENV", "variants")
    from samlab.pipelines import variants

    monkeypatch.setattr(variants, "_CONFIG_LOADER", None)
    assert variants.training_variants() == ["sgd", "sam", "gsam", "asam", "obf", "gsam_obf", "asam_obf", "randsam", "lsam"]
    monkeypatch.delenv("KEDRO_ENV")
    assert variants.training_variants() == ["sgd", "sam"]  # the default run stays small


def test_checkpoints_dataset_hands_out_a_store_and_refuses_saves(tmp_path):
    ds = TrainingCheckpointsDataset(str(tmp_path / "ck"), keep=3)
    store = ds.load()
    assert isinstance(store, CheckpointStore) and store.keep == 3 and not ds.exists()
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "epoch-0001.pt").write_bytes(b"")
    assert ds.exists()
    with pytest.raises(Exception, match="written by the training loop"):
        ds.save({})


def test_only_rank_zero_writes_outputs(tmp_path, monkeypatch):
    from kedro_datasets.json import JSONDataset

    pipeline = Pipeline([node(lambda: {"a": 1}, inputs=None, outputs="metrics", name="m")])
    for rank, expect_file in (("1", False), ("0", True)):
        target = tmp_path / f"metrics{rank}.json"
        catalog = DataCatalog({"metrics": JSONDataset(filepath=str(target))})
        monkeypatch.setenv("RANK", rank)
        RankZeroWritesHook().before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
        catalog.save("metrics", {"a": 1})
        assert target.exists() is expect_file
        assert isinstance(catalog.get("metrics"), MemoryDataset) is not expect_file
