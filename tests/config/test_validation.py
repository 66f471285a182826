"""Up-front validation: every bad setting of every block is named (block/variant and key), with a
did-you-mean for typos, all at once; the Kedro run refuses before writing anything."""

from __future__ import annotations

import copy

import pytest
import yaml

from samlab.config import ConfigError, check_parameters, validate_parameters
from tests.conftest import REPO, kedro


def base_params() -> dict:
    params = {}
    for path in sorted((REPO / "conf" / "base").glob("parameters*.yml")):
        params.update(yaml.safe_load(path.read_text()) or {})
    return params


@pytest.fixture(scope="module")
def params():
    return base_params()


def V(params: dict, name: str) -> dict:
    """A training variant's block, in an explicit `variants:` map or at the top level."""
    return params["variants"][name] if "variants" in params else params[name]


def problems_of(params, edit, **kw) -> list[str]:
    p = copy.deepcopy(params)
    edit(p)
    return [str(x) for x in validate_parameters(p, **kw)]


def test_the_shipped_parameters_of_every_environment_are_valid():
    from kedro.config import OmegaConfigLoader

    envs = [
        "local",
        *sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name not in ("base", "local")),
    ]
    for env in envs:
        loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), base_env="base", default_run_env="local", env=env)
        assert validate_parameters(dict(loader["parameters"])) == [], env


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: V(p, "sgd")["optimizer"].update(lr=0), "sgd.optimizer.lr: lr must be > 0, got 0"),
        (lambda p: V(p, "sam")["optimizer"].update(rho=-0.1), "sam.optimizer.rho: rho must be >= 0, got -0.1"),
        (
            lambda p: V(p, "sam")["optimizer"].update(rhoo=0.1),
            ("sam.optimizer.rhoo: unknown setting for optimizer 'sam' on base 'sgd' (did you mean 'rho'?)"),
        ),
        (
            lambda p: V(p, "sgd")["optimizer"].update(rho=0.1),
            (
                "sgd.optimizer.rho: unknown setting for optimizer 'sgd' on base 'sgd' "
                "('rho' is a setting of the perturbed variants"
            ),
        ),
        (
            lambda p: V(p, "sam")["optimizer"].update(name="sma"),
            "sam.optimizer.name: unknown optimizer 'sma' (did you mean 'sam'?)",
        ),
        (
            lambda p: p["model"].update(name="resnet10"),
            "model.name: unknown model 'resnet10' (did you mean 'resnet10t'?)",
        ),
        (lambda p: p["data"].update(name="digit"), "data.name: unknown data set 'digit' (did you mean 'digits'?)"),
        (lambda p: p["training"].update(epoch=1), "training.epoch: unknown setting (did you mean 'epochs'?)"),
        (lambda p: p["training"].update(epochs=-1), "training: epochs must be >= 0, got -1"),
        (lambda p: p["training"].update(schedule="cosin"), "training: unknown schedule 'cosin'"),
        (
            lambda p: p["training"].update(batch_size=4096),
            (
                "training.batch_size: one update needs batch_size x accum_steps = "
                "4096 samples but the train split has 1257"
            ),
        ),
        (
            lambda p: V(p, "sam")["optimizer"].update(perturbation_batch_size=10),
            "sam.optimizer.perturbation_batch_size: m=10 must divide the per-rank micro-batch 64",
        ),
        (
            lambda p: V(p, "sam").update(
                training={"batch_size": 48}, optimizer={**V(p, "sam")["optimizer"], "perturbation_batch_size": 32}
            ),
            "sam.optimizer.perturbation_batch_size: m=32 must divide the per-rank micro-batch 48",
        ),
        (
            lambda p: V(p, "sam").update(trainig={"epochs": 1}),
            "sam.trainig: unknown key of a training variant (did you mean 'training'?)",
        ),
        (
            lambda p: V(p, "sam").update(training={"epoch": 1}),
            "sam.training.epoch: unknown setting (did you mean 'epochs'?)",
        ),
        (lambda p: V(p, "sam")["optimizer"].update(name="obf", lam=1.0), "sam.optimizer.lam: lam must be < 1, got 1.0"),
        (
            lambda p: V(p, "sam")["optimizer"].update(name="obf", gamma=1.5),
            "sam.optimizer.gamma: gamma must be <= 1, got 1.5",
        ),
        (lambda p: p["data"].update(splt={}), "data.splt: not an option of data set 'digits' (did you mean 'split'?)"),
        (
            lambda p: p["data"].update(split={"train": 0.9, "test": 0.2}),
            "data.split: fractions must be >= 0 and sum to 1",
        ),
        (
            lambda p: p["analysis"]["hessian"].update(iteration=3),
            "analysis.hessian.iteration: unknown setting (did you mean 'iterations'?)",
        ),
        (lambda p: p["analysis"]["m_sharpness"].update(rho=-1), "analysis.m_sharpness.rho: rho must be >= 0, got -1"),
        (
            lambda p: p["robustness"].update(severities=[6]),
            "robustness.severities.0: severities (item 0) must be <= 5, got 6",
        ),
        (
            lambda p: p["robustness"].update(corruptions=["gausian_noise"]),
            "robustness.corruptions: unknown corruption 'gausian_noise' (did you mean 'gaussian_noise'?)",
        ),
        (
            lambda p: p["robustness"].update(baseline="sgdd"),
            "robustness.baseline: 'sgdd' is not a training variant (did you mean 'sgd'?)",
        ),
        (
            lambda p: p["transfer"]["finetune"]["sgd"].update(epoch=1),
            "transfer.finetune.sgd.epoch: unknown setting (did you mean 'epochs'?)",
        ),
        (
            lambda p: p["transfer"]["finetune"]["sgd"]["optimizer"].update(lr=0),
            "transfer.finetune.sgd.optimizer.lr: lr must be > 0",
        ),
        (
            lambda p: p["transfer"].update(target={"name": "cifar11"}),
            "transfer.target.name: unknown data set 'cifar11' (did you mean 'cifar10'?)",
        ),
        (
            lambda p: p["study"]["training"].update(epoch=1),
            "study.training.epoch: unknown setting (did you mean 'epochs'?)",
        ),
        (
            lambda p: p["study"]["perturbations"]["sam"].update(rhoo=1),
            "study.sam.rhoo: unknown setting for optimizer 'sam'",
        ),
        (
            lambda p: p["study"].update(perturbation_batch_sizes=[5]),
            "study: perturbation batch sizes [5] do not divide the study batch size",
        ),
        (lambda p: p["obf_sweep"].update(gammas=[2.0]), ("obf_sweep", "1", "got", "2.0")),
        (lambda p: p["obf_sweep"].update(lambdas=[1.0]), ("obf_sweep", "1", "got", "1.0")),
        (
            lambda p: p["feature_study"]["toy"]["training"].update(epoch=1),
            "feature_study.toy.training.epoch: unknown setting (did you mean 'epochs'?)",
        ),
        (lambda p: p.update(trainig={"epochs": 1}), "trainig: unknown parameters block (did you mean 'training'?)"),
    ],
)
def test_each_bad_setting_is_named_with_its_block_and_key(params, edit, expected):
    found = problems_of(params, edit)
    expected = (expected,) if isinstance(expected, str) else expected
    assert any(all(e in f for e in expected) for f in found), found


def test_all_problems_are_listed_at_once(params):
    def edit(p):
        V(p, "sgd")["optimizer"]["lr"] = 0
        V(p, "sam")["optimizer"]["rhoo"] = 0.1
        p["training"]["epoch"] = 1

    with pytest.raises(ConfigError) as err:
        p = copy.deepcopy(params)
        edit(p)
        check_parameters(p)
    assert len(err.value.problems) == 3
    text = str(err.value)
    assert (
        "3 problem(s)" in text
        and "sgd.optimizer.lr" in text
        and "sam.optimizer.rhoo" in text
        and "training.epoch" in text
    )


def test_only_the_blocks_the_run_uses_are_checked(params):
    def edit(p):
        p["study"]["training"]["epoch"] = 1

    assert problems_of(params, edit, blocks={"data", "model", "training", "sgd", "sam"}) == []
    assert problems_of(params, edit, blocks={"study"}) != []


def test_explicit_variant_map_is_understood(params):
    p = copy.deepcopy(params)
    if "variants" not in p:
        p["variants"] = {"sgd": p.pop("sgd"), "sam": p.pop("sam")}
    assert validate_parameters(p) == []
    p["variants"]["sam"]["optimizer"]["rhoo"] = 1
    assert [x.block for x in validate_parameters(p)] == ["sam.optimizer"]
    # `kedro run --namespaces sgd` reads params:variants.sgd only: sam's block is not this run's
    from samlab.config import blocks_used

    used = blocks_used(["params:data", "params:model", "params:training", "params:variants.sgd"])
    assert validate_parameters(p, used) == []
    assert len(validate_parameters(p, used | {"variants.sam"})) == 1


def test_switching_the_data_set_drops_other_data_sets_options(params):
    from samlab.config import split_data_options

    kept, dropped = split_data_options({**params["data"], "name": "mnist"})
    assert "split" not in kept and "split" in dropped and "digits" in dropped["split"]
    assert kept["image_size"] == 16  # mnist takes it
    assert problems_of(params, lambda p: p["data"].update(name="mnist")) == []


def test_python_api_refuses_before_training():
    from samlab.data import prepare_digits
    from samlab.train import train

    data = prepare_digits(8, 1, {"train": 0.7, "val": 0.15, "test": 0.15}, 0)
    with pytest.raises(ConfigError) as err:
        train(data, {"name": "samlab_mlp"}, {"name": "sam", "lr": 0, "rhoo": 0.1}, {"epoch": 1}, name="mine")
    text = str(err.value)
    assert "mine.optimizer.lr" in text and "mine.optimizer.rhoo" in text and "did you mean 'rho'" in text
    assert "mine.training.epoch" in text and "did you mean 'epochs'" in text


@pytest.mark.slow
def test_kedro_run_refuses_every_bad_setting_before_writing_anything(tmp_path):
    from tests.conftest import copy_project

    project = copy_project(tmp_path)
    v = "variants." if "variants" in base_params() else ""  # an explicit variants map
    with pytest.raises(AssertionError) as err:
        kedro(
            project,
            "run",
            "--params",
            f"{v}sgd.optimizer.lr=0,{v}sam.optimizer.rhoo=0.1,training.epoch=1,{v}sam.optimizer.perturbation_batch_size=10,"
            "training.batch_size=4096,data.splt=1,analysis.hessian.iteration=2,robustness.baseline=sdg",
        )
    text = " ".join(str(err.value).split())  # the console wraps long lines
    for expected in (
        "sgd.optimizer.lr: lr must be > 0",
        "sam.optimizer.rhoo",
        "did you mean 'rho'",
        "training.epoch: unknown setting (did you mean 'epochs'?)",
        "perturbation_batch_size: m=10",
        "train split has 1257",
        "data.splt",
        "analysis.hessian.iteration",
        "robustness.baseline",
    ):
        assert expected in text, expected
    written = [p for p in (project / "data").rglob("*") if p.is_file()]
    assert written == [], written


def test_analysis_device_is_a_known_setting(params):
    assert params["analysis"]["device"] == "auto"
    assert problems_of(params, lambda p: p["analysis"].update(device="cuda:1")) == []
    assert problems_of(params, lambda p: p["analysis"].update(devce="cpu")) != []
