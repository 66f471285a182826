"""Which namespaced instances to build: read from the parameters of the active Kedro environment.

A training variant is any top-level parameters block with an ``optimizer`` key (``sgd:``, ``sam:``,
``obf:`` …), so adding a variant is adding one block. Kedro creates the context (and our hook hands us
its config loader, env included) before it asks for pipelines; outside a run (tests, notebooks) the
project's ``conf/`` is read with the base and local environments, or ``KEDRO_ENV``.
"""

from __future__ import annotations

import os
from functools import partial, update_wrapper
from pathlib import Path
from typing import Any

_CONFIG_LOADER = None


def bind_variant(func, name: str):
    """``func`` with its ``variant_name`` bound: a node knows its variant (for logs and tables) without a
    parameter for it, and keeps ``func``'s name for Kedro."""
    return update_wrapper(partial(func, variant_name=name), func)


def use_config_loader(config_loader) -> None:
    global _CONFIG_LOADER
    _CONFIG_LOADER = config_loader


def _project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.exists() and "[tool.kedro]" in pyproject.read_text():
            return folder
    raise RuntimeError(f"no Kedro project (pyproject.toml with [tool.kedro]) at or above {here}")


def _config_loader():
    if _CONFIG_LOADER is not None:
        return _CONFIG_LOADER
    from kedro.config import OmegaConfigLoader

    return OmegaConfigLoader(
        conf_source=str(_project_root() / "conf"), base_env="base", default_run_env="local",
        env=os.environ.get("KEDRO_ENV"),
    )


def project_parameters() -> dict[str, Any]:
    return dict(_config_loader()["parameters"])


def project_catalog_config() -> dict[str, Any]:
    """The catalog entries (names and factory patterns) of the active environment, unresolved."""
    return dict(_config_loader()["catalog"])


def training_variants(params: dict[str, Any] | None = None) -> list[str]:
    """Namespaces of the training pipeline, in the order the parameters list them."""
    params = project_parameters() if params is None else params
    if isinstance(params.get("variants"), dict):  # the explicit map (the recipe environments use it)
        return list(params["variants"])
    names = [k for k, v in params.items() if isinstance(v, dict) and "optimizer" in v]
    if not names:
        raise ValueError("no training variant in the parameters: add a block like `sam: {optimizer: {name: sam, ...}}`")
    return names


def variant_parameter(name: str, params: dict[str, Any] | None = None) -> str:
    """The parameter that holds variant ``name``'s block: ``params:variants.<name>`` under the explicit map."""
    params = project_parameters() if params is None else params
    return f"params:variants.{name}" if isinstance(params.get("variants"), dict) else f"params:{name}"
