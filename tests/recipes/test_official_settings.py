"""The recipe environments resolve to paper 1's official settings, key by key.

The table below is written from the official scripts of "Forget Sharpness" (BorealisAI/perturbed-forgetting:
scripts/train_*.sh, finetune_*.sh, validate_*.sh, train.py): one row per run, every setting that defines it.
"""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader

from samlab.pipelines.variants import variant_names
from tests.conftest import REPO

RANKS = 8  # the documented torchrun command: --nproc-per-node 8

COMMON = {
    "vit_s32": {
        "model": {
            "name": "vit_small_patch32_224",
            "class_token": False,
            "global_pool": "avg",
            "fc_norm": True,
            "weight_init": "jax",
            "head_init": {"weight": 0.0, "bias": -10.0},
        },
        "training": {
            "seed": 42,
            "epochs": 300,
            "warmup_epochs": 32,
            "warmup_lr": 0.0,
            "schedule": "linear",
            "min_lr": 3e-5,
            "loss": "bce",
            "label_smoothing": 0.0,
        },
        "optimizer": {"lr": 3e-3, "weight_decay": 0.3, "max_grad_norm": 1.0},
        "base": "adamw",
        "per_rank_batch": 512,
        "rho": 0.6,
        "rho_min": 0.0,
    },
    "resnet50": {
        "model": {"name": "resnet50"},
        "training": {
            "seed": 42,
            "epochs": 90,
            "warmup_epochs": 16,
            "warmup_lr": 0.0,
            "schedule": "linear",
            "min_lr": 0.016,
            "loss": "ce",
            "label_smoothing": 0.0,
        },
        "optimizer": {"lr": 1.6, "weight_decay": 1e-3, "momentum": 0.9},
        "base": "sgdw",
        "per_rank_batch": 256,
        "rho": 0.04,
        "rho_min": 0.02,
    },
}

# run → (optimizer name, its settings beyond the common ones, training overrides); ρ_c: constant ρ
OFFICIAL = {
    "vit_s32": {
        "vanilla": ("adamw", {}, {}),
        "labelsmooth": ("adamw", {}, {"label_smoothing": 0.1}),
        "shrink_perturb": ("adamw", {"shrink_perturb": 1e-5}, {}),
        "sam": ("sam", {"rho": 0.6, "rho_schedule": "lr_prop", "rho_min": 0.0}, {}),
        "sam_obf": ("obf", {"rho": 0.6, "gamma": 1.0}, {}),
        "randsam": ("randsam", {"rho": 0.6}, {}),
        "gsam": (
            "gsam",
            {"rho": 0.6, "rho_schedule": "lr_prop", "rho_min": 0.0, "alpha": 0.4, "gsam_backup": "raw"},
            {},
        ),
        "gsam_obf": ("gsam_obf", {"rho": 0.6, "gamma": 1.0, "alpha": 0.4, "gsam_backup": "normalized"}, {}),
        "asam": ("asam", {"rho": 6.0, "adaptive": "after"}, {}),
        "asam_obf": ("asam_obf", {"rho": 6.0, "adaptive": "after", "gamma": 1e-12}, {}),
    },
    "resnet50": {
        "vanilla": ("sgdw", {}, {}),
        "labelsmooth": ("sgdw", {}, {"label_smoothing": 0.1}),
        "shrink_perturb": ("sgdw", {"shrink_perturb": 1e-5}, {}),
        "sam": ("sam", {"rho": 0.04, "rho_schedule": "lr_prop", "rho_min": 0.02}, {}),
        "sam_obf": ("obf", {"rho": 0.04, "gamma": 1e-12}, {}),
        "randsam": ("randsam", {"rho": 0.04}, {}),
        "gsam": (
            "gsam",
            {"rho": 0.04, "rho_schedule": "lr_prop", "rho_min": 0.02, "alpha": 0.01, "gsam_backup": "normalized"},
            {},
        ),
        "gsam_obf": ("gsam_obf", {"rho": 0.04, "gamma": 1e-12, "alpha": 0.01, "gsam_backup": "raw"}, {}),
        "asam": ("asam", {"rho": 0.8, "rho_schedule": "lr_prop", "rho_min": 0.4, "adaptive": "before"}, {}),
        "asam_obf": ("asam_obf", {"rho": 0.8, "adaptive": "before", "gamma": 1e-12}, {}),
    },
}

# transfer run → (source run, fine-tuning optimizer, extra optimizer settings, loss per model)
TRANSFER = {
    "sam_to_sgd": ("sam", "sgd", {}, {"vit_s32": "bce", "resnet50": "ce"}),
    "obf_to_sgd": ("sam_obf", "sgd", {}, {"vit_s32": "bce", "resnet50": "ce"}),
    "vanilla_to_sam": ("vanilla", "sam", {"perturbation_batch_size": 64}, {"vit_s32": "bce", "resnet50": "bce"}),
    "vanilla_to_sam_obf": (
        "vanilla",
        "obf",
        {"perturbation_batch_size": 64, "gamma": 1e-12},
        {"vit_s32": "bce", "resnet50": "bce"},
    ),
}
TRANSFER_LR_RHO = {"vit_s32": (3e-3, 0.05), "resnet50": (0.01, 0.1)}


def parameters(env: str) -> dict:
    loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), base_env="base", default_run_env="local", env=env)
    return dict(loader["parameters"])


@pytest.mark.parametrize("env", sorted(OFFICIAL))
def test_every_official_pretraining_run_is_one_namespace_with_the_official_settings(env):
    params, common = parameters(env), COMMON[env]
    assert sorted(variant_names(params)) == sorted(f"{env}_{run}" for run in OFFICIAL[env])
    for key, value in common["model"].items():
        assert params["model"][key] == value, (env, "model", key)
    for short, (name, own, training_own) in OFFICIAL[env].items():
        run = f"{env}_{short}"  # namespaces carry the family: both families' outputs live side by side
        training = {**params["training"], **(params["variants"][run].get("training") or {})}
        for key, value in {**common["training"], **training_own}.items():
            assert training[key] == pytest.approx(value), (env, run, key)
        global_batch = training["batch_size"] * training["accum_steps"]
        assert global_batch == 4096 and training["batch_size"] // RANKS == common["per_rank_batch"], (env, run)
        opt = dict(params["variants"][run]["optimizer"])
        expected = {"name": name, **common["optimizer"], **own}
        if name not in ("adamw", "sgdw"):  # perturbed runs: base optimizer, m = 64 per rank
            expected.update(base=common["base"], perturbation_batch_size=64)
        if own.get("rho_schedule") == "lr_prop":  # ρ ∝ LR between the run's own LR bounds
            expected["lr_min"] = training["min_lr"]
        if "gamma" in own:
            expected["lam"] = None  # λ = 1/C
        if "max_grad_norm" not in common["optimizer"]:
            expected["max_grad_norm"] = None
        for key in set(expected) | set(opt):
            assert opt.get(key) == (
                pytest.approx(expected[key]) if isinstance(expected.get(key), float) else expected.get(key)
            ), (env, run, key, opt.get(key), expected.get(key))


@pytest.mark.parametrize("env", sorted(OFFICIAL))
def test_data_evaluation_and_sharpness_settings_are_the_official_ones(env):
    params = parameters(env)
    assert params["data"] == {
        "name": "image_folder",
        "root": "data/01_raw/imagenet",
        "splits": {"train": "train", "test": "val"},
        "image_size": 224,
        "in_chans": 3,
        "train_scale": [0.05, 1.0],
        "crop_pct": 0.875,
    }
    sets = params["robustness"]["eval_sets"]
    assert {k: v["format"] for k, v in sets.items()} == {
        "imagenet_real": "real",
        "imagenet_v2": "class_index",
        "imagenet_r": "class_folders",
        "imagenet_sketch": "class_folders",
        "imagenet_c": "corruption_folders",
    }
    assert sets["imagenet_r"]["masked"] == "both" and sets["imagenet_c"]["optional"] is True
    analysis = params["analysis"]
    assert analysis["subset"] == {"split": "train", "size": 8192, "seed": 0, "order": "first", "batch_size": 256}
    assert analysis["hessian"]["iterations"] == 100 and analysis["hessian"]["tol"] == pytest.approx(1e-4)


@pytest.mark.parametrize("env", sorted(OFFICIAL))
def test_transfer_runs_are_the_official_fine_tunes(env):
    transfer = parameters(env)["transfer"]
    lr, rho = TRANSFER_LR_RHO[env]
    for target in ("cifar10", "cifar100"):
        cfg = transfer["targets"][target]
        assert cfg["name"] == target and cfg["val_fraction"] == 0.0  # all 50 000 training images
        assert cfg["input"] == {"size": 224, "crop_pct": 0.875, "train_scale": [0.05, 1.0]}
    assert sorted(transfer["finetune"]) == sorted(TRANSFER)
    for run, (source, name, own, loss) in TRANSFER.items():
        recipe = transfer["finetune"][run]
        assert recipe["source"] == f"{env}_{source}" and recipe["loss"] == loss[env], run
        expected = {"name": name, "lr": lr, "momentum": 0.9, "weight_decay": 0.0, "max_grad_norm": 1.0, **own}
        if name != "sgd":
            expected["rho"] = rho
        assert recipe["optimizer"] == expected, (run, recipe)
        for key, value in {
            "epochs": 100,
            "warmup_epochs": 5,
            "schedule": "linear",
            "min_lr": 0.0,
            "batch_size": 512,
            "accum_steps": 1,
            "seed": 42,
        }.items():
            assert recipe[key] == value, (env, run, key)
