"""A study population as plain data: one frozen ``Member`` per model to train, built from parameters.

A member carries everything needed to train and measure it — data, model, training and optimizer settings,
its seed — so one function (``samlab.study.run.run_member``) runs it anywhere: in this process, in a
process pool, or on a Dask worker of another machine. Nothing in it refers to Kedro.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

KINDS = ("measure", "score", "features")


@dataclass(frozen=True)
class Member:
    """One population member.

    ``kind``: what is measured after training — ``measure`` (the τ study: test accuracy, sharpness, feature
    balance, our forgetting estimators along training), ``score`` (test accuracy and trajectories only: the
    OBF sweep), ``features`` (paper 2's measurements: probes per feature, phantom weights, λ bins).
    ``group`` tags members that are compared with each other (the feature set and its spiral turns).
    """

    name: str
    study: str
    perturbation: str
    optimizer: dict[str, Any]
    seed: int
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    m: int | None = None
    rho: float = 0.0
    kind: str = "measure"
    group: str = ""
    record_every: int = 10
    measure: dict[str, Any] = field(default_factory=dict)
    threads: int = 1  # torch intra-op threads while this member runs (1: a run is the same on any machine)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"member {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if "." in self.name or "/" in self.name:
            raise ValueError(f"member name {self.name!r} may not contain '.' or '/' (it names files)")

    @property
    def cost(self) -> float:
        """A rough relative cost, to start the slowest members first (chunks of m cost one pass pair each)."""
        batch = int(self.training.get("batch_size", 1))
        passes = 2 * batch / self.m if self.m else (2.0 if self.rho else 1.0)
        return float(self.training.get("epochs", 1)) * passes

    def spec(self) -> dict[str, Any]:
        """The columns every row starts with."""
        return {
            "variant": self.name,
            "study": self.study,
            "group": self.group,
            "perturbation": self.perturbation,
            "optimizer": self.optimizer.get("name"),
            "rho": self.rho,
            "m": self.m,
            "seed": self.seed,
        }


def _merge(*parts: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in parts:
        out.update(copy.deepcopy(p or {}))
    return out


def perturbation_batch_sizes(study: dict[str, Any]) -> list[int]:
    """m values: the configured list, or ``auto`` = 1, 2, 4, … up to the batch size; each must divide the batch."""
    batch = int(study["training"]["batch_size"])
    ms = study.get("perturbation_batch_sizes", "auto")
    if ms == "auto":
        ms = [2**k for k in range(batch.bit_length()) if 2**k <= batch and batch % 2**k == 0]
    bad = [m for m in ms if int(m) < 1 or batch % int(m)]
    if bad:
        raise ValueError(f"perturbation batch sizes {bad} do not divide the study batch size {batch}")
    return [int(m) for m in ms]


def _common(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": dict(block["data"]),
        "model": dict(block["model"]),
        "training": dict(block["training"]),
        "record_every": int(block.get("forgetting_every", 10)),
        "measure": dict(block.get("measure") or {}),
    }


def tau_population(study: dict[str, Any]) -> list[Member]:
    """Paper 1 Fig. 2: every perturbation × m × seed (``study_<p>_m<m>_s<seed>``), plus the baselines without
    a perturbation (``study_<name>_s<seed>``, m None: reference rows, outside the τ population)."""
    seeds = [int(s) for s in study.get("seeds", [0])]
    defaults = study.get("optimizer_defaults", {})
    common = _common(study)
    members = [
        Member(
            f"study_{p}_m{m}_s{s}",
            "tau",
            p,
            _merge(defaults, cfg, {"perturbation_batch_size": m}),
            s,
            m=m,
            rho=float(_merge(defaults, cfg).get("rho", 0.0)),
            **common,
        )
        for p, cfg in study.get("perturbations", {}).items()
        for m in perturbation_batch_sizes(study)
        for s in seeds
    ]
    if len(members) < 3:
        raise ValueError(f"the τ study needs at least 3 perturbed members for Kendall's τ, got {len(members)}")
    plain = {k: v for k, v in defaults.items() if k != "rho"}
    members += [
        Member(f"study_{b}_s{s}", "tau", b, _merge(plain, cfg), s, **common)
        for b, cfg in study.get("baselines", {}).items()
        for s in seeds
    ]
    return members


def _tag(value: float) -> str:
    """A number as a file-name-safe tag: 0.1 → 0p1, 1e-12 → 1em12."""
    return f"{value:g}".replace(".", "p").replace("-", "m").replace("+", "")


def obf_population(sweep: dict[str, Any], study: dict[str, Any]) -> list[Member]:
    """OBF at every γ × λ × seed (``obf_g<γ>_l<λ>_s<seed>``) on the τ study's data, model and training."""
    gammas, lambdas = [float(g) for g in sweep.get("gammas", [1.0])], sweep.get("lambdas", [None])
    bad = [g for g in gammas if not 0.0 <= g <= 1.0] + [
        x for x in lambdas if x is not None and not 0.0 <= float(x) < 1.0
    ]
    if bad:
        raise ValueError(f"obf_sweep: γ must be in [0, 1] and λ in [0, 1) (null = 1/C), got {bad}")
    if len(gammas) < 2 and len(lambdas) < 2:
        raise ValueError("obf_sweep needs at least two γ or two λ values to sweep")
    opt = _merge(study.get("optimizer_defaults"), sweep.get("optimizer_defaults"), {"name": "obf"})
    return [
        Member(
            f"obf_g{_tag(g)}_l{'auto' if lam is None else _tag(float(lam))}_s{s}",
            "obf_sweep",
            "obf",
            {**opt, "gamma": g, "lam": None if lam is None else float(lam)},
            int(s),
            rho=float(opt.get("rho", 0.0)),
            kind="score",
            **_common(study),
        )
        for g in gammas
        for lam in lambdas
        for s in sweep.get("seeds", [0])
    ]


def feature_population(name: str, fs: dict[str, Any]) -> list[Member]:
    """Paper 2: per feature set, every optimizer × ρ (SGD as ρ = 0) × seed, at every spiral complexity
    (``turns``, toy sets only): ``features_<set>[_k<turns>]_<optimizer>_rho<ρ>_s<seed>``. An optimizer's own
    ``rhos`` list replaces the set's grid (SAM perturbs every weight and needs a smaller ρ than LSAM)."""
    defaults = fs.get("optimizer_defaults", {})
    optimizers = {k: dict(v) for k, v in (fs.get("optimizers") or {}).items()}
    grids = {k: [float(r) for r in cfg.pop("rhos", fs.get("rhos", []))] for k, cfg in optimizers.items()}
    if not optimizers or not all(grids.values()):
        raise ValueError(f"feature_study.{name}: needs `optimizers` (name → config) and a `rhos` grid")
    if any(r <= 0 for g in grids.values() for r in g):
        raise ValueError(f"feature_study.{name}: ρ grid values must be > 0 (SGD is ρ = 0), got {grids}")
    common = _common(fs)
    turns = fs.get("turns") or [None]
    seeds = [int(s) for s in fs.get("seeds", [0])]
    plain = {k: v for k, v in defaults.items() if k != "rho"}
    members = []
    for k in turns:
        data = {**common["data"], **({"turns": float(k)} if k is not None else {})}
        stem = f"features_{name}" + (f"_k{_tag(float(k))}" if k is not None else "")
        group = name + (f"_k{_tag(float(k))}" if k is not None else "")
        base = {**common, "data": data, "kind": "features", "group": group, "study": name}
        for s in seeds:
            members.append(
                Member(
                    f"{stem}_sgd_rho0_s{s}",
                    perturbation="sgd",
                    optimizer=_merge(plain, {"name": "sgd"}),
                    seed=s,
                    rho=0.0,
                    **base,
                )
            )
            for opt, cfg in optimizers.items():
                for r in grids[opt]:
                    members.append(
                        Member(
                            f"{stem}_{opt}_rho{_tag(r)}_s{s}",
                            perturbation=opt,
                            optimizer=_merge(defaults, cfg, {"rho": r}),
                            seed=s,
                            rho=r,
                            **base,
                        )
                    )
    return members


def feature_populations(feature_study: dict[str, Any]) -> list[Member]:
    """Every feature set's members (a set with ``optional: true`` is skipped by the caller when its raw files
    are missing; see ``samlab.study.run.data_available``)."""
    return [m for name, fs in feature_study.items() for m in feature_population(name, fs)]
