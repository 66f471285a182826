"""A throw-away project with every raw file paper 1's recipes read, in miniature and in the real formats."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import copy_project
from tests.data.fakes import write_cifar10, write_cifar100
from tests.data.imagenet_fakes import (
    WNIDS,
    write_class_folders,
    write_imagenet,
    write_real,
    write_v2,
)

ENVS = ("vit_s32", "resnet50")
RUNS = ("vanilla", "labelsmooth", "shrink_perturb", "sam", "sam_obf", "randsam", "gsam", "gsam_obf", "asam", "asam_obf")
TRANSFER_RUNS = ("sam_to_sgd", "obf_to_sgd", "vanilla_to_sam", "vanilla_to_sam_obf")
N_TRAIN = 22  # per class: 6 × 22 = 132 images ≥ one update of 128 (two perturbation chunks of m = 64)


def write_raw(raw: Path) -> None:
    val_names = write_imagenet(raw / "imagenet", WNIDS, n_train=N_TRAIN, n_val=2, size=36)
    # ReaL: image n's label set; some empty (dropped), some with a second label
    write_real(
        raw / "imagenet" / "real.json",
        [[] if i % 4 == 3 else sorted({i // 2, (i + 1) % 6}) for i in range(len(val_names))],
    )
    write_v2(raw / "imagenetv2-matched-frequency-format-val", num_classes=len(WNIDS), per_class=1, size=36)
    write_class_folders(raw / "imagenet-r", WNIDS[:2], per_class=2, size=36)
    write_class_folders(raw / "imagenet-sketch", WNIDS, per_class=1, size=36)
    write_class_folders(raw / "imagenet-c" / "fog" / "1", WNIDS, per_class=1, size=32)
    write_cifar10(raw, per_batch=14, test=20)
    write_cifar100(raw, train=70, test=20)


def shrink(env: str) -> str:
    """`--params` that shrink model, epochs and images only: the code path stays the recipe's."""
    model = {
        "vit_s32": "model.patch_size=8,model.embed_dim=16,model.depth=1,model.num_heads=2",
        "resnet50": "model.base_width=8",
    }[env]  # bottleneck width 64 → 8: the 3×3 and inner 1×1 convs shrink
    batch = {
        "vit_s32": "training.batch_size=128,training.accum_steps=1",
        "resnet50": "training.batch_size=64,training.accum_steps=2",
    }[env]
    epochs = {
        "vit_s32": "training.epochs=2,training.warmup_epochs=1",  # warm-up then decay
        "resnet50": "training.epochs=1,training.warmup_epochs=1",
    }[env]
    parts = [
        model,
        batch,
        epochs,
        "data.image_size=32",
        "training.eval_batch_size=64",
        "training.progress=false",
        "analysis.subset.size=16",
        "analysis.subset.batch_size=8",
        "analysis.hessian.iterations=3",
        "analysis.m_sharpness.m=8",
        "analysis.adaptive_sharpness.m=8",
        "robustness.num_workers=0",
        "robustness.eval_batch_size=16",
    ]
    for target in ("cifar10", "cifar100"):
        parts += [f"transfer.targets.{target}.input.size=32", f"transfer.targets.{target}.verify_checksum=false"]
    for run in TRANSFER_RUNS:
        parts += [
            f"transfer.finetune.{run}.epochs=1",
            f"transfer.finetune.{run}.batch_size=64",
            f"transfer.finetune.{run}.warmup_epochs=0",
        ]
    return ",".join(parts)


@pytest.fixture(scope="module")
def recipe_project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("recipes"))
    write_raw(root / "data" / "01_raw")
    return root


def num_threads_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def masked_name(n_classes: int) -> str:
    return f"imagenet_r_{n_classes}"


def camel(text: str) -> str:
    return re.sub(r"_(.)", lambda m: m.group(1).upper(), text)
