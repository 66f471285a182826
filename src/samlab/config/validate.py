"""``validate_parameters(params)``: every problem of a run's parameters, before any work.

Used by the Kedro hook (``kedro run``, and so ``dvc repro``), by ``samlab validate`` and by the Python API
(``samlab.train.train`` checks its training block the same way). Each check returns ``Problem``s instead of
raising, so a run with three mistakes reports three lines at once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

from samlab.config.problems import ConfigError, Problem, did_you_mean, unknown_keys
from samlab.config.schema import (
    Analysis,
    FeatureStudy,
    ObfSweep,
    OptimizerValues,
    Robustness,
    Study,
    Transfer,
    check_dataclass,
    check_model,
    dataset_model,
    optimizer_keys,
    optimizer_kind,
    perturbation_keys,
    train_config_keys,
)

VARIANT_KEYS = ("optimizer", "model", "training")
# Top-level blocks of the project; an unknown block close to one of these is a typo (`trainig:`).
KNOWN_BLOCKS = (
    "data",
    "model",
    "training",
    "variants",
    "analysis",
    "robustness",
    "transfer",
    "study",
    "obf_sweep",
    "feature_study",
    "study_runner",
    "logging",
)


def world_size() -> int:
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


# --- variants -----------------------------------------------------------------------------------------------------
def variant_blocks(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The training variants, name → block: an explicit ``variants:`` map if the parameters have one, else
    every top-level block with an ``optimizer`` key."""
    explicit = params.get("variants")
    if isinstance(explicit, dict) and explicit and all(isinstance(v, dict) for v in explicit.values()):
        return dict(explicit)
    return {k: v for k, v in params.items() if isinstance(v, dict) and "optimizer" in v}


# --- single blocks ------------------------------------------------------------------------------------------------
def check_optimizer(block: str, cfg: Any, per_rank_batch: int | None = None) -> list[Problem]:
    """Name, keys (read from the factory for this variant and base optimizer), types and ranges; ``m``
    must divide the per-rank micro-batch."""
    from samlab.optim.factory import BASE_OPTIMIZERS, OPTIMIZERS

    if not isinstance(cfg, dict):
        return [Problem(block, "", f"must be a mapping with at least `name` and `lr`, got {cfg!r}")]
    name = cfg.get("name")
    if name not in OPTIMIZERS:
        return [
            Problem(
                block,
                "name",
                f"unknown optimizer {name!r}{did_you_mean(str(name), OPTIMIZERS)}; "
                f"known: {', '.join(sorted(OPTIMIZERS))}",
            )
        ]
    base = cfg.get("base", name if name in BASE_OPTIMIZERS else "sgd")
    problems: list[Problem] = []
    if base not in BASE_OPTIMIZERS:
        problems.append(
            Problem(
                block,
                "base",
                f"unknown base optimizer {base!r}{did_you_mean(str(base), BASE_OPTIMIZERS)}; "
                f"known: {', '.join(sorted(BASE_OPTIMIZERS))}",
            )
        )
    known = optimizer_keys(name, base)
    if known is not None:
        for p in unknown_keys(block, cfg, known):
            hint = ""
            if optimizer_kind(name) == "plain" and p.key in optimizer_keys("sam", "sgd"):
                hint = f" ({p.key!r} is a setting of the perturbed variants (sam, gsam, ...): {name!r} is plain {base})"
            problems.append(
                Problem(
                    block,
                    p.key,
                    f"unknown setting for optimizer {name!r} on base {base!r}{hint}"
                    f"{did_you_mean(p.key, known) if not hint else ''}; "
                    f"known: {', '.join(sorted(known))}",
                )
            )
    if "lr" not in cfg:
        problems.append(Problem(block, "lr", "missing: every optimizer needs a learning rate (lr > 0)"))
    else:
        problems += check_model(block, cfg, OptimizerValues)
    if cfg.get("ascent") is not None:
        from samlab.optim.ascent import ASCENTS

        if cfg["ascent"] not in ASCENTS:
            problems.append(
                Problem(block, "ascent", f"unknown ascent {cfg['ascent']!r}; known: {', '.join(sorted(ASCENTS))}")
            )
    if cfg.get("rho_schedule") is not None:
        from samlab.optim.schedules import RHO_SCHEDULES

        if cfg["rho_schedule"] not in RHO_SCHEDULES:
            problems.append(
                Problem(
                    block,
                    "rho_schedule",
                    f"unknown rho schedule {cfg['rho_schedule']!r}; known: {', '.join(sorted(RHO_SCHEDULES))}",
                )
            )
    perturb = cfg.get("perturb")
    if isinstance(perturb, str) and perturb not in ("all", "classifier"):
        problems.append(
            Problem(
                block, "perturb", f"must be 'all', 'classifier' or a list of parameter-name prefixes, got {perturb!r}"
            )
        )
    m = cfg.get("perturbation_batch_size")
    if per_rank_batch is not None and isinstance(m, int) and m >= 1 and per_rank_batch % m:
        ranks = world_size()
        problems.append(
            Problem(
                block,
                "perturbation_batch_size",
                f"m={m} must divide the per-rank micro-batch {per_rank_batch} "
                f"(batch_size {per_rank_batch * ranks} / {ranks} rank(s))",
            )
        )
    return _ordered(problems)


def check_model_block(block: str, cfg: Any) -> list[Problem]:
    """``name`` must be a timm architecture (ours are registered into timm); other keys go to timm."""
    import timm

    import samlab.models  # noqa: F401 - registers the samlab_* models

    if not isinstance(cfg, dict):
        return [Problem(block, "", f"must be a mapping with `name`, got {cfg!r}")]
    name = cfg.get("name")
    if not isinstance(name, str) or not timm.is_model(name):
        close = did_you_mean(str(name), timm.list_models()) if isinstance(name, str) else ""
        return [Problem(block, "name", f"unknown model {name!r}{close}: not a timm architecture (timm.list_models())")]
    if "pretrained" in cfg and not isinstance(cfg["pretrained"], bool):
        return [Problem(block, "pretrained", f"must be true or false, got {cfg['pretrained']!r}")]
    return []


def check_training(block: str, cfg: Any, n_train: int | None = None) -> list[Problem]:
    """Keys and types of the loop's ``TrainConfig`` (its own checks included), the loss, and that one update
    fits in the training split where its size is known."""
    from samlab.train.loop import TrainConfig
    from samlab.train.losses import create_loss

    if not isinstance(cfg, dict):
        return [Problem(block, "", f"must be a mapping of settings, got {cfg!r}")]
    problems = check_dataclass(block, cfg, TrainConfig, train_config_keys())
    if any(p.key in ("batch_size", "accum_steps", "loss", "label_smoothing") for p in problems):
        return problems
    try:
        create_loss(cfg.get("loss", "ce"), cfg.get("label_smoothing", 0.0))
    except ValueError as exc:
        problems.append(Problem(block, "loss", str(exc)))
    batch, accum, ranks = int(cfg.get("batch_size", 64)), int(cfg.get("accum_steps", 1)), world_size()
    if batch % ranks:
        problems.append(Problem(block, "batch_size", f"{batch} must be divisible by the {ranks} DDP ranks"))
    if n_train is not None and n_train < batch * accum:
        problems.append(
            Problem(
                block,
                "batch_size",
                f"one update needs batch_size x accum_steps = {batch * accum} "
                f"samples but the train split has {n_train}",
            )
        )
    return problems


def data_option_owners(name: str) -> dict[str, list[str]]:
    """Option → the other data sets that take it (to tell a left-over option from a typo)."""
    from samlab.data import DATASETS

    owners: dict[str, list[str]] = {}
    for other in DATASETS:
        model = dataset_model(other)
        if other != name and model is not None:
            for key in model.model_fields:
                owners.setdefault(key, []).append(other)
    return owners


def split_data_options(cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``cfg`` without the options that belong to *other* data sets only, and those options with their owners.

    Why: ``kedro run --params data.name=mnist`` keeps the digits options of the base file (``split``), which
    MNIST does not take; they are dropped with a warning instead of failing the run. A key no data set takes
    stays in, and validation calls it a typo."""
    model = dataset_model(str(cfg.get("name")))
    if model is None:
        return dict(cfg), {}
    owners = data_option_owners(cfg["name"])
    dropped = {k: owners[k] for k in cfg if k not in model.model_fields and k in owners}
    return {k: v for k, v in cfg.items() if k not in dropped}, dropped


def check_data(block: str, cfg: Any) -> list[Problem]:
    from samlab.data import DATASETS

    if not isinstance(cfg, dict):
        return [Problem(block, "", f"must be a mapping with `name`, got {cfg!r}")]
    name = cfg.get("name")
    model = dataset_model(str(name))
    if model is None:
        return [
            Problem(
                block,
                "name",
                f"unknown data set {name!r}{did_you_mean(str(name), DATASETS)}; known: {', '.join(sorted(DATASETS))}",
            )
        ]
    kept, _ = split_data_options(cfg)
    problems = [
        Problem(
            p.block,
            p.key,
            f"not an option of data set {name!r}{did_you_mean(p.key, model.model_fields)}; "
            f"its options: {', '.join(sorted(model.model_fields))}",
        )
        for p in unknown_keys(block, kept, model.model_fields)
    ]
    problems += check_model(block, {k: v for k, v in kept.items() if k in model.model_fields}, model)
    split = kept.get("split")
    if (
        isinstance(split, dict)
        and split
        and all(isinstance(v, (int, float)) for v in split.values())
        and (abs(sum(split.values()) - 1) > 1e-6 or min(split.values()) < 0)
    ):
        problems.append(Problem(block, "split", f"fractions must be >= 0 and sum to 1, got {split}"))
    frac = kept.get("val_fraction")
    if isinstance(frac, (int, float)) and not 0 <= frac < 1:
        problems.append(Problem(block, "val_fraction", f"must be in [0, 1), got {frac}"))
    size = kept.get("image_size")
    if name in ("digits", "dominoes") and isinstance(size, int) and size < 8:
        problems.append(Problem(block, "image_size", f"must be >= 8 (the digits are 8x8), got {size}"))
    chans = kept.get("in_chans")
    if name in ("digits", "mnist", "dominoes") and chans is not None and chans not in (1, 3):
        problems.append(Problem(block, "in_chans", f"must be 1 or 3, got {chans}"))
    return problems


@functools.cache
def _digits_train_size(fractions: tuple[tuple[str, float], ...], seed: int) -> int:
    from sklearn.datasets import load_digits

    from samlab.data.digits import stratified_split

    return len(stratified_split(load_digits().target, dict(fractions), seed).get("train", []))


def train_size(data: dict[str, Any]) -> int | None:
    """The training split's size where it is known without reading files (embedded data sets)."""
    try:
        if data.get("name") == "digits":
            return _digits_train_size(tuple(sorted(data["split"].items())), int(data.get("seed", 0)))
        if data.get("name") == "toy":
            return int(data.get("n_train", 2000))
    except Exception:  # noqa: BLE001 - a bad data block is reported by check_data
        return None
    return None


def _ordered(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.block, p.key) not in seen:
            seen.add((p.block, p.key))
            out.append(p)
    return out


def _merged(base: Any, override: Any) -> dict[str, Any]:
    return {**(base if isinstance(base, dict) else {}), **(override if isinstance(override, dict) else {})}


def check_variant(
    name: str,
    block: Any,
    params: dict[str, Any],
    shared: Iterable[Problem] = (),
    n_train: int | None = None,
    prefix: str = "",
) -> list[Problem]:
    """One training variant: its keys, optimizer, and its model/training overrides over the shared blocks
    (a problem of a shared block is reported once, under that block, not once per variant)."""
    where = f"{prefix}{name}"
    if not isinstance(block, dict):
        return [Problem(where, "", f"a training variant must be a mapping with `optimizer:`, got {block!r}")]
    problems = unknown_keys(where, block, VARIANT_KEYS, "key of a training variant")
    if "optimizer" not in block:
        problems.append(
            Problem(where, "optimizer", "missing: a training variant needs `optimizer: {name: ..., lr: ...}`")
        )
    shared_seen = {(p.key, p.message) for p in shared}
    training = _merged(params.get("training"), block.get("training"))
    if isinstance(block.get("training"), dict):
        problems += [
            Problem(f"{where}.training", p.key, p.message)
            for p in check_training("training", training, n_train)
            if (p.key, p.message) not in shared_seen
        ]
    if isinstance(block.get("model"), dict):
        problems += [
            Problem(f"{where}.model", p.key, p.message)
            for p in check_model_block("model", _merged(params.get("model"), block["model"]))
            if (p.key, p.message) not in shared_seen
        ]
    if "optimizer" in block:
        per_rank = None
        batch = training.get("batch_size", 64)
        if isinstance(batch, int) and batch > 0 and batch % world_size() == 0:
            per_rank = batch // world_size()
        problems += check_optimizer(f"{where}.optimizer", block["optimizer"], per_rank)
    return problems


def check_transfer(block: str, cfg: Any) -> list[Problem]:
    from samlab.config.schema import finetune_keys
    from samlab.evaluate.transfer import RELABELLINGS, FinetuneConfig

    problems = check_model(block, cfg, Transfer)
    if not isinstance(cfg, dict):
        return problems
    targets = {f"{block}.targets.{k}": {"name": k, **(v or {})} for k, v in (cfg.get("targets") or {}).items()} or {
        f"{block}.target": cfg.get("target") or {"name": "parity"}
    }
    for where_target, target in targets.items():
        if not isinstance(target, dict):
            continue
        target = {
            k: v for k, v in target.items() if k != "input"
        }  # the loader's resize for the model (not the data set's)
        if target.get("name") in RELABELLINGS:
            problems += unknown_keys(where_target, target, ["name"], "setting of a relabelling target")
        else:
            problems += [
                Problem(
                    p.block,
                    p.key,
                    p.message
                    if p.key != "name"
                    else f"{p.message}; or a relabelling of the training data: {', '.join(sorted(RELABELLINGS))}",
                )
                for p in check_data(where_target, target)
            ]
    for recipe, rcfg in (cfg.get("finetune") or {}).items():
        where = f"{block}.finetune.{recipe}"
        if not isinstance(rcfg, dict):
            problems.append(Problem(where, "", f"must be a mapping with `optimizer:`, got {rcfg!r}"))
            continue
        if "training" in finetune_keys():  # recipe = optimizer, source/checkpoint/model, and training settings
            try:
                recipe_cfg = FinetuneConfig.from_dict(rcfg)
            except (ValueError, TypeError) as exc:
                problems.append(Problem(where, "", str(exc)))
                continue
            problems += [Problem(where, p.key, p.message) for p in check_training("training", recipe_cfg.training)]
        else:
            problems += check_dataclass(where, rcfg, FinetuneConfig, finetune_keys())
        if "optimizer" in rcfg:
            batch = rcfg.get("batch_size", 64)
            problems += check_optimizer(
                f"{where}.optimizer", rcfg["optimizer"], batch if isinstance(batch, int) else None
            )
        else:
            problems.append(
                Problem(where, "optimizer", "missing: a fine-tuning recipe needs `optimizer: {name: ..., lr: ...}`")
            )
    return _ordered(problems)


def _population(block: str, cfg: dict[str, Any], members: dict[str, Any], defaults: dict[str, Any]) -> list[Problem]:
    """A study's shared data/model/training and every member's optimizer (defaults + its overrides)."""
    problems = check_data(f"{block}.data", cfg.get("data"))
    problems += check_model_block(f"{block}.model", cfg.get("model"))
    training = cfg.get("training") or {}
    problems += check_training(f"{block}.training", training, train_size(cfg.get("data") or {}))
    batch = training.get("batch_size", 64) if isinstance(training, dict) else None
    for name, over in (members or {}).items():
        merged = _merged(defaults, over)
        if optimizer_kind(str(merged.get("name"))) == "plain":  # the study gives baselines the defaults without ρ
            merged = {k: v for k, v in merged.items() if k not in perturbation_keys() or k in (over or {})}
        problems += check_optimizer(f"{block}.{name}", merged, batch if isinstance(batch, int) else None)
    return problems


def _check_study_blocks(params: dict[str, Any]) -> list[Problem]:
    """The studies' blocks as typed models, where ``samlab.study`` (which builds their members) is absent."""
    problems: list[Problem] = []
    study = params.get("study")
    if study is not None:
        problems += check_model("study", study, Study)
        if isinstance(study, dict):
            defaults = study.get("optimizer_defaults") or {}
            members = {**(study.get("perturbations") or {}), **(study.get("baselines") or {})}
            problems += _population("study", study, members, defaults)
            batch = (study.get("training") or {}).get("batch_size", 64)
            sizes = study.get("perturbation_batch_sizes")
            if isinstance(sizes, list) and isinstance(batch, int):
                bad = [m for m in sizes if isinstance(m, int) and m > 0 and batch % m]
                if bad:
                    problems.append(
                        Problem(
                            "study", "", f"perturbation batch sizes {bad} do not divide the study batch size {batch}"
                        )
                    )
    sweep = params.get("obf_sweep")
    if sweep is not None:
        problems += check_model("obf_sweep", sweep, ObfSweep)
        if isinstance(sweep, dict) and isinstance(study, dict):
            defaults = _merged(study.get("optimizer_defaults"), sweep.get("optimizer_defaults"))
            problems += check_optimizer("obf_sweep.optimizer_defaults", {"name": "obf", **defaults})
    for name, fs in (params.get("feature_study") or {}).items():
        where = f"feature_study.{name}"
        problems += check_model(where, fs, FeatureStudy)
        if isinstance(fs, dict):
            problems += _population(where, fs, fs.get("variants") or {}, fs.get("optimizer_defaults") or {})
    return _ordered(problems)


def _check_members(block: str, members: list[Any]) -> list[Problem]:
    """Each distinct data/model/training/optimizer of a study's members, named after the block and the
    member's perturbation (``study.sam.rhoo``)."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for m in members:
        key = repr((m.data, m.model, m.training, m.optimizer))
        if key in seen:
            continue
        seen.add(key)
        problems += check_data(f"{block}.data", m.data) + check_model_block(f"{block}.model", m.model)
        problems += check_training(f"{block}.training", m.training, train_size(m.data))
        batch = m.training.get("batch_size", 64)
        problems += check_optimizer(f"{block}.{m.perturbation}", m.optimizer, batch if isinstance(batch, int) else None)
    return problems


def check_study(params: dict[str, Any]) -> list[Problem]:
    """The studies: their members as ``samlab.study`` builds them (its own checks included), then every
    member's data, model, training and optimizer with the checks of a training variant."""
    try:
        from samlab.study import member as population
    except ImportError:
        return _ordered(_check_study_blocks(params))
    builders = []
    if isinstance(params.get("study"), dict):
        builders.append(("study", lambda: population.tau_population(params["study"])))
        if isinstance(params.get("obf_sweep"), dict):
            builders.append(("obf_sweep", lambda: population.obf_population(params["obf_sweep"], params["study"])))
    for name, fs in (params.get("feature_study") or {}).items():
        builders.append((f"feature_study.{name}", lambda name=name, fs=fs: population.feature_population(name, fs)))
    problems: list[Problem] = []
    for block, build in builders:
        try:
            members = build()
        except KeyError as exc:
            problems.append(Problem(block, str(exc.args[0]), "missing"))
            continue
        except (ValueError, TypeError) as exc:
            problems.append(Problem(block, "", str(exc).removeprefix(f"{block}: ")))
            continue
        problems += _check_members(block, members)
    return _ordered(problems)


# --- the whole run ------------------------------------------------------------------------------------------------
def blocks_used(param_inputs: Iterable[str]) -> set[str]:
    """Top-level blocks named by a pipeline's ``params:`` inputs (``parameters`` means all of them)."""
    out = set()
    for name in param_inputs:
        if name == "parameters":
            return {"*"}
        if name.startswith("params:"):
            parts = name[len("params:") :].split(".")
            # one variant of an explicit map (`params:variants.sam`, e.g. under --namespaces sam): that one only
            out.add(f"variants.{parts[1]}" if parts[0] == "variants" and len(parts) > 1 else parts[0])
    return out


def validate_parameters(
    params: dict[str, Any], blocks: Iterable[str] | None = None, variants: dict[str, dict[str, Any]] | None = None
) -> list[Problem]:
    """Every problem of ``params`` (a run's merged parameters), all at once.

    ``blocks``: the top-level blocks the run uses (None: every block present); ``variants``: name → variant
    block (None: ``variant_blocks(params)``). A variant is checked with the shared ``model``/``training``."""
    variants = variant_blocks(params) if variants is None else variants
    use = set(params) if blocks is None or "*" in set(blocks) else set(blocks)
    if "variants" in use:
        use |= set(variants)
    use |= {b.split(".", 1)[1] for b in use if b.startswith("variants.")}
    problems: list[Problem] = []
    run_variants = [v for v in variants if v in use]
    explicit = isinstance(params.get("variants"), dict)
    for key, block in params.items():
        if explicit and key not in KNOWN_BLOCKS and isinstance(block, dict) and "optimizer" in block:
            problems.append(
                Problem(
                    key,
                    "",
                    f"a training variant outside the `variants:` map is not trained: move it "
                    f"under `variants:` (e.g. --params variants.{key}.optimizer.lr=...)",
                )
            )
        elif key not in KNOWN_BLOCKS and key not in variants and did_you_mean(key, KNOWN_BLOCKS):
            problems.append(Problem(key, "", f"unknown parameters block{did_you_mean(key, KNOWN_BLOCKS)}"))
    data = params.get("data")
    n_train = None
    if "data" in use or run_variants:
        if data is None:
            problems.append(Problem("data", "", "missing: the parameters need a `data:` block"))
        else:
            problems += check_data("data", data)
            n_train = train_size(data) if isinstance(data, dict) else None
    shared: list[Problem] = []
    if run_variants or "model" in use:
        shared += check_model_block("model", params.get("model", {}))
    if run_variants or "training" in use:
        shared += check_training("training", params.get("training", {}), n_train)
    problems += shared
    for name in run_variants:
        problems += check_variant(name, variants[name], params, shared, n_train)
    if "analysis" in use and "analysis" in params:
        problems += check_model("analysis", params["analysis"], Analysis)
    if "robustness" in use and "robustness" in params:
        problems += check_model("robustness", params["robustness"], Robustness)
        rob = params["robustness"]
        if isinstance(rob, dict):
            from samlab.evaluate.corruptions import CORRUPTION_NAMES

            names = rob.get("corruptions")
            if isinstance(names, list):
                problems += [
                    Problem(
                        "robustness", "corruptions", f"unknown corruption {c!r}{did_you_mean(str(c), CORRUPTION_NAMES)}"
                    )
                    for c in names
                    if c not in CORRUPTION_NAMES
                ]
            baseline = rob.get("baseline", "sgd")
            if variants and baseline not in variants:
                problems.append(
                    Problem(
                        "robustness",
                        "baseline",
                        f"{baseline!r} is not a training variant"
                        f"{did_you_mean(str(baseline), variants)}; variants: {', '.join(variants)}",
                    )
                )
    if "transfer" in use and "transfer" in params:
        problems += check_transfer("transfer", params["transfer"])
    if use & {"study", "obf_sweep", "feature_study"}:  # the sweep reads the study's settings too
        problems += check_study(
            {k: params[k] for k in ("study", "obf_sweep", "feature_study") if k in use and k in params}
        )
    return _ordered(problems)


def check_parameters(
    params: dict[str, Any],
    blocks: Iterable[str] | None = None,
    variants: dict[str, dict[str, Any]] | None = None,
    what: str = "the parameters",
) -> None:
    """``validate_parameters``, raising one ``ConfigError`` that lists every problem."""
    problems = validate_parameters(params, blocks, variants)
    if problems:
        raise ConfigError(problems, what)


def check_train_inputs(
    model_cfg: dict[str, Any], optimizer_cfg: dict[str, Any], train_cfg: dict[str, Any], name: str = "model"
) -> None:
    """The Python API's check (``samlab.train.train``): the model, optimizer and training blocks of one run,
    every problem at once, named after the run (the variant)."""
    problems = check_model_block(f"{name}.model", model_cfg) + check_training(f"{name}.training", train_cfg)
    batch = train_cfg.get("batch_size", 64)
    per_rank = batch // world_size() if isinstance(batch, int) and batch > 0 and batch % world_size() == 0 else None
    problems += check_optimizer(f"{name}.optimizer", optimizer_cfg, per_rank)
    if problems:
        raise ConfigError(problems, f"the settings of {name!r}")
