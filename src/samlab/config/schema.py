"""Typed configurations of every parameters block, and the checks that need only the configuration.

Where a block belongs to code with a typed signature already (the loop's ``TrainConfig``, transfer's
``FinetuneConfig``, the data readers' ``prepare_*`` functions, the optimizer factory), the keys and types are
read from that code, so a setting added there is known here at once. The other blocks (analysis, robustness,
transfer, the studies) are pydantic models below. ``check_model`` turns a pydantic validation into
``Problem``s: unknown keys with a did-you-mean, then wrong types and values, all at once.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)

from samlab.config.problems import Problem, did_you_mean, unknown_keys

NonNegative = Field(default=None, ge=0)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


# --- analysis (parameters_analysis.yml, and the studies' `measure:`) -----------------------------------------
class Subset(Strict):
    split: str = "train"
    size: int | None = Field(default=None, gt=0)
    seed: int = 0
    order: Literal["random", "first"] = "random"  # first: the first `size` images (paper 1's sharpness subset)
    batch_size: int = Field(default=256, gt=0)  # images per batch while reading the subset


class Hessian(Strict):
    iterations: int | None = Field(default=None, gt=0)
    tol: float | None = Field(default=None, gt=0)
    seed: int = 0


class Trace(Strict):
    samples: int | None = Field(default=None, gt=0)
    seed: int = 0


class MSharpness(Strict):
    rho: float | None = Field(default=None, ge=0)
    m: int | None = Field(default=None, gt=0)


class AdaptiveSharpness(MSharpness):
    eta: float | None = Field(default=None, ge=0)


class FeatureBalance(Strict):
    rho: float | None = Field(default=None, ge=0)
    lorenz_points: int | None = Field(default=None, ge=2)


class AnalysisProbes(Strict):
    features: list[str] | None = None
    C: float | None = Field(default=None, gt=0)
    c: float | None = Field(default=None, gt=0)  # the older spelling of C
    max_iter: int | None = Field(default=None, gt=0)


class Analysis(Strict):
    device: str | None = None  # auto (CUDA when available, else CPU), cpu, cuda, cuda:1 …
    subset: Subset | None = None
    chunk_size: int | None = Field(default=None, gt=0)
    hessian: Hessian | None = None
    trace: Trace | None = None
    m_sharpness: MSharpness | None = None
    adaptive_sharpness: AdaptiveSharpness | None = None
    feature_balance: FeatureBalance | None = None
    probes: AnalysisProbes | None = None
    bins: int | None = Field(default=None, gt=0)  # the feature study's λ bins


# --- robustness (parameters_robustness.yml) -------------------------------------------------------------------
class RobustnessProbe(Strict):
    folds: int = Field(default=2, ge=2)
    C: float = Field(default=1.0, gt=0)
    max_iter: int = Field(default=1000, gt=0)


class EvalSet(Strict):
    format: Literal["class_folders", "class_index", "real", "corruption_folders"]
    root: str
    labels: str | None = None  # real: the ReaL labels JSON
    masked: bool | Literal["both"] = False
    crop_pct: float | None = Field(default=None, gt=0, le=1)
    optional: bool = False


class Robustness(Strict):
    corruptions: Literal["all"] | list[str] = "all"
    severities: list[typing.Annotated[int, Field(ge=1, le=5)]] = [1, 2, 3, 4, 5]
    parameter_set: Literal["cifar", "imagenet", "auto"] = "auto"
    seed: int = 0
    max_test_images: int | None = Field(default=None, gt=0)
    corrupted_npy: str | None = None
    image_folders: dict[str, str] | None = None
    eval_sets: dict[str, EvalSet] | None = None  # streamed file sets (samlab.data.eval_sets)
    num_workers: int | None = Field(default=None, ge=0)
    baseline: str = "sgd"
    probe: RobustnessProbe | None = None
    eval_batch_size: int = Field(default=512, gt=0)
    chunk_size: int = Field(default=256, gt=0)
    corruption_threads: int | None = Field(default=None, gt=0)
    eval_threads: int | None = Field(default=None, gt=0)
    device: str = "auto"
    progress: bool | None = None


# --- transfer (parameters_transfer.yml) -----------------------------------------------------------------------
class LinearProbe(Strict):
    C: float = Field(default=1.0, gt=0)
    max_iter: int = Field(default=1000, gt=0)


class Transfer(Strict):
    target: dict[str, Any] = {"name": "parity"}
    targets: dict[str, dict[str, Any]] | None = None  # several targets by name (paper 1: CIFAR-10 and CIFAR-100)
    finetune: dict[str, dict[str, Any]] = {}
    linear_probe: LinearProbe | None = None
    threads: int | None = Field(default=None, gt=0)


# --- the studies (parameters_study.yml) -----------------------------------------------------------------------
class Correlation(Strict):
    target: str = "test_accuracy"
    permutations: int = Field(default=2000, ge=0)
    seed: int = 0
    alpha: float = Field(default=0.05, gt=0, lt=1)
    strata: str | None = None
    metrics: list[str] | None = None


class Study(Strict):
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    optimizer_defaults: dict[str, Any] = {}
    perturbations: dict[str, dict[str, Any]] = {}
    baselines: dict[str, dict[str, Any]] = {}
    perturbation_batch_sizes: Literal["auto"] | list[typing.Annotated[int, Field(gt=0)]] = "auto"
    seeds: list[int] = [0]
    forgetting_every: int = Field(default=5, gt=0)
    measure: Analysis | None = None
    correlation: Correlation | None = None


class ObfSweep(Strict):
    gammas: list[typing.Annotated[float, Field(ge=0, le=1)]]
    lambdas: list[typing.Annotated[float, Field(ge=0, lt=1)] | None]
    seeds: list[int] = [0]
    optimizer_defaults: dict[str, Any] = {}


class FeatureStudy(Strict):
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    optimizer_defaults: dict[str, Any] = {}
    variants: dict[str, dict[str, Any]]
    seeds: list[int] = [0]
    forgetting_every: int = Field(default=20, gt=0)
    measure: Analysis | None = None


# --- optimizer values (the keys themselves are read from the factory, see optimizer_keys) ---------------------
class OptimizerValues(BaseModel):
    """Types and ranges of the optimizer settings; which keys a variant takes is ``optimizer_keys``."""

    model_config = ConfigDict(extra="allow")

    name: str
    lr: float = Field(gt=0)
    weight_decay: float | None = Field(default=None, ge=0)
    momentum: float | None = Field(default=None, ge=0, lt=1)
    nesterov: bool | None = None
    betas: tuple[typing.Annotated[float, Field(ge=0, lt=1)], typing.Annotated[float, Field(ge=0, lt=1)]] | None = None
    eps: float | None = Field(default=None, gt=0)
    max_grad_norm: float | None = Field(default=None, gt=0)
    rho: float | None = Field(default=None, ge=0)
    rho_min: float | None = Field(default=None, ge=0)
    lr_min: float | None = Field(default=None, ge=0)
    lr_max: float | None = Field(default=None, gt=0)
    perturbation_batch_size: int | None = Field(default=None, ge=1)
    gamma: float | None = Field(default=None, ge=0, le=1)
    lam: float | None = Field(default=None, ge=0, lt=1)
    predictions: Literal["sigmoid", "softmax"] | None = None
    seed: int | None = None
    adaptive: Literal["before", "after", "both"] | None = None
    eta: float | None = Field(default=None, ge=0)
    alpha: float | None = Field(default=None, ge=0)
    backup_normalized: bool | None = None
    gsam_backup: Literal["raw", "gradient", "normalized"] | None = None
    shrink_perturb: float | None = Field(default=None, ge=0, le=1)
    perturb: str | list[str] | None = None
    sync_perturbation: bool | None = None


# --- keys read from the code ------------------------------------------------------------------------------------
_NOT_FROM_YAML = {"self", "model", "groups", "params", "grad_scaler", "process_group", "mode", "cfg", "kwargs"}


def _parameters(func) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in _NOT_FROM_YAML
    ]


def base_optimizer_keys(base: str) -> set[str] | None:
    from samlab.optim.factory import BASE_OPTIMIZERS

    if base not in BASE_OPTIMIZERS:
        return None
    return {"base", "lr", "weight_decay", *(p.name for p in _parameters(BASE_OPTIMIZERS[base]))}


@functools.cache
def perturbation_keys() -> frozenset[str]:
    from samlab.optim.factory import _perturbed

    return frozenset(p.name for p in _parameters(_perturbed))


def optimizer_kind(name: str) -> str | None:
    """``plain``, ``perturbed``, ``lsam_effect`` or None (a registered variant whose keys we cannot list)."""
    from samlab.optim.factory import BASE_OPTIMIZERS, VARIANT_PRESETS

    if name in BASE_OPTIMIZERS:
        return "plain"
    if name in VARIANT_PRESETS:
        return "perturbed"
    if name.startswith("lsam_"):
        return "lsam_effect"
    return None


def optimizer_keys(name: str, base: str) -> set[str] | None:
    """Every key the optimizer variant ``name`` takes on base optimizer ``base`` (None: unknown)."""
    base_keys = base_optimizer_keys(base)
    kind = optimizer_kind(name)
    if base_keys is None or kind is None:
        return None
    from samlab.optim.factory import _plain

    keys = {"name", *(p.name for p in _parameters(_plain)), *base_keys}  # clipping, shrink-and-perturb: every variant
    if kind == "perturbed":
        keys |= perturbation_keys()
    elif kind == "lsam_effect":
        from samlab.optim.lsam_effects import create_lsam_effect

        keys |= {p.name for p in _parameters(create_lsam_effect)}
    return keys


def train_config_keys() -> set[str]:
    from samlab.train.loop import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig) if f.name != "extra"}


def finetune_keys() -> set[str]:
    from samlab.evaluate.transfer import FinetuneConfig

    return {f.name for f in dataclasses.fields(FinetuneConfig) if f.name != "extra"}


@functools.cache
def dataset_model(name: str) -> type[BaseModel] | None:
    """A pydantic model of data set ``name``'s options, from its ``prepare_*`` signature (None: unknown name)."""
    from samlab.data import DATASETS

    if name not in DATASETS:
        return None
    func = DATASETS[name]
    try:
        hints = typing.get_type_hints(func.func if isinstance(func, functools.partial) else func)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: check keys, not types
        hints = {}
    fields: dict[str, Any] = {"name": (str, ...)}
    for p in _parameters(func):
        if p.name == "name":
            continue
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints.get(p.name, Any), default)
    return create_model(f"{name}_data", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)


# --- pydantic errors → problems ---------------------------------------------------------------------------------
def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _unknown(block: str, cfg: Any, model: type[BaseModel]) -> list[Problem]:
    if not isinstance(cfg, dict) or model.model_config.get("extra") != "forbid":
        return []
    problems = unknown_keys(block, cfg, model.model_fields)
    for key, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None and isinstance(cfg.get(key), dict):
            problems += _unknown(f"{block}.{key}", cfg[key], nested)
    return problems


_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}


def _errors(block: str, exc: ValidationError, skip_extra: bool = True) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        if skip_extra and err["type"] == "extra_forbidden":
            continue
        loc = [str(x) for x in err["loc"]]
        if err["type"] == "value_error" or not loc:  # __post_init__ / validators: the message names the key
            msg = str(err.get("ctx", {}).get("error", err["msg"]))
            out.append(Problem(block, ".".join(loc), msg.removeprefix("Value error, ")))
            continue
        # union members add their type to the location (e.g. 'list[str]'); keep the keys only
        keys = [x for x in loc if not any(c in x for c in "[]'\"") and not x.startswith(("function-", "literal"))]
        value = err.get("input")
        bound = _BOUNDS.get(err["type"])
        if bound is not None:  # "rho must be >= 0, got -0.1" reads better than pydantic's sentence
            name = next((k for k in reversed(keys) if not k.isdigit()), "value")
            item = f" (item {keys[-1]})" if keys and keys[-1].isdigit() else ""
            out.append(
                Problem(
                    block, ".".join(keys), f"{name}{item} must be {bound[0]} {err['ctx'][bound[1]]:g}, got {value!r}"
                )
            )
            continue
        shown = "" if err["type"] == "missing" else f", got {value!r}"
        out.append(Problem(block, ".".join(keys), f"{err['msg'].lower()}{shown}"))
    return _dedupe(out)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.block, p.key) not in seen:  # a union reports one error per member: the first says enough
            seen.add((p.block, p.key))
            out.append(p)
    return out


def check_model(block: str, cfg: Any, model: type[BaseModel]) -> list[Problem]:
    """Unknown keys (with did-you-mean, at any depth) and every type/value error of ``cfg`` against ``model``."""
    if not isinstance(cfg, dict):
        return [Problem(block, "", f"must be a mapping of settings, got {cfg!r}")]
    problems = _unknown(block, cfg, model)
    try:
        model.model_validate(cfg)
    except ValidationError as exc:
        problems += _errors(block, exc)
    return problems


def check_dataclass(block: str, cfg: dict[str, Any], cls: type, known: set[str]) -> list[Problem]:
    """Unknown keys against ``known``, then the dataclass's own types and ``__post_init__`` checks."""
    problems = unknown_keys(block, cfg, known)
    given = {k: v for k, v in cfg.items() if k in known}
    try:
        adapter = _adapter(cls)
    except Exception:  # noqa: BLE001 - a field type pydantic cannot describe: the dataclass's own checks only
        try:
            cls(**given)
        except (ValueError, TypeError) as exc:
            problems.append(Problem(block, "", str(exc)))
        return problems
    try:
        adapter.validate_python(given)
    except ValidationError as exc:
        problems += _errors(block, exc)
    return problems


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


__all__ = [
    "Analysis",
    "FeatureStudy",
    "ObfSweep",
    "OptimizerValues",
    "Robustness",
    "Study",
    "Transfer",
    "check_dataclass",
    "check_model",
    "dataset_model",
    "did_you_mean",
    "optimizer_keys",
    "train_config_keys",
]
