"""The training pipeline in Kedro: per-epoch checkpoints through the catalog, resume, the `variants`
environment, and rank-0-only writes under torchrun."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from samlab.hooks import RankZeroWritesHook, VariantListCheck
from samlab.io import TorchCheckpointDataset, TrainingCheckpointsDataset
from samlab.pipeline_registry import create_pipelines, run_parameters
from samlab.pipelines.variants import variant_names
from samlab.train import CheckpointStore
from tests.conftest import REPO, kedro

TINY = "model.name=samlab_cnn,training.epochs=2,training.warmup_epochs=0"


@pytest.mark.slow
def test_checkpoints_every_epoch_resume_and_the_variants_environment(project, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny model: one thread is fastest and spares shared cores
    from samlab.data import prepare_digits
    from samlab.io import PreparedDataDataset

    # what `kedro run --pipelines data_preparation` writes, without paying for a third kedro process
    PreparedDataDataset(str(project / "data" / "05_model_input" / "prepared.safetensors")).save(
        prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    )
    monkeypatch.setenv("KEDRO_ENV", "variants")  # the environment that adds obf to the variant list
    kedro(project, "run", "--namespaces", "obf", "--params", TINY)
    models = project / "data" / "06_models"
    store = CheckpointStore(models / "obf" / "checkpoints")
    assert store.epochs() == [1, 2]
    state = store.latest()
    assert state["optimizer"]["wrapper"]["ascent"]["name"] == "obf" and len(state["history"]) == 2
    first = TorchCheckpointDataset(str(models / "obf" / "model.pt")).load()["state_dict"]
    assert all(torch.equal(first[k], state["model"][k]) for k in first)
    assert not (models / "sam").exists()  # only the namespace asked for

    # resume: true after a finished run trains nothing and writes the same weights again
    proc = kedro(project, "run", "--namespaces", "obf", "--params", TINY + ",training.resume=true")
    assert "resuming after epoch 2/2" in proc.stdout + proc.stderr
    again = TorchCheckpointDataset(str(models / "obf" / "model.pt")).load()["state_dict"]
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_variants_environment_adds_every_paper_variant():
    conf = REPO / "conf"
    assert variant_names(run_parameters("variants", conf)) == [
        "sgd",
        "sam",
        "gsam",
        "asam",
        "obf",
        "gsam_obf",
        "asam_obf",
        "randsam",
        "lsam",
    ]
    assert variant_names(run_parameters("local", conf)) == ["sgd", "sam"]  # the default run stays small
    assert run_parameters("variants", conf)["variants"]["sam"] == run_parameters("local", conf)["variants"]["sam"]


def test_pipelines_get_the_variant_list_explicitly():
    params = {"variants": {"b": {"optimizer": {"name": "sgd"}}, "a": {"optimizer": {"name": "sam"}}}}
    pipes = create_pipelines(params)
    for name in ("training", "robustness", "transfer", "analysis"):
        assert {n.namespace for n in pipes[name].nodes} - {None} == {"a", "b"}, name
    assert "params:variants.b" in pipes["training"].inputs()
    assert {"a.history", "b.history"} <= pipes["reporting"].inputs()
    with pytest.raises(ValueError, match=r"variants \['c'\] have no `optimizer:` block"):
        variant_names({"variants": {**params["variants"], "c": {"model": {}}}})
    with pytest.raises(ValueError, match="must be identifiers"):
        variant_names({"variants": {"a.b": {"optimizer": {}}}})
    with pytest.raises(ValueError, match="need a `variants:` map"):
        variant_names({"sgd": {"optimizer": {"name": "sgd"}}})  # a top-level block is not a variant


def test_an_env_with_another_variant_list_is_refused_before_any_node(monkeypatch):
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), base_env="base", default_run_env="local", env="variants")
    context = SimpleNamespace(config_loader=loader, env="variants")  # what `kedro run --env variants` creates
    with pytest.raises(ValueError, match="KEDRO_ENV=variants kedro run"):
        VariantListCheck().after_context_created(context)
    monkeypatch.setenv("KEDRO_ENV", "variants")
    VariantListCheck().after_context_created(context)  # the same list: nothing to say
    recipe = OmegaConfigLoader(
        conf_source=str(REPO / "conf"), base_env="base", default_run_env="local", env="study_cifar10"
    )
    monkeypatch.delenv("KEDRO_ENV")
    VariantListCheck().after_context_created(SimpleNamespace(config_loader=recipe, env="study_cifar10"))  # same names


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
