"""``samlab`` / ``python -m samlab``: check a configuration, list the recipes, execute the report notebook.

- ``samlab validate [--env E] [--params a.b=1,c=x] [--pipeline P]``: the checks ``kedro run`` makes before its
  first node (``samlab.config``), every problem printed; exit status 1 if there is any.
- ``samlab recipes``: every Kedro environment of the project with its data set, model, epochs and variants.
- ``samlab notebook [--output PATH]``: execute ``notebooks/samlab_report.ipynb`` on the run's outputs and write
  the executed notebook (figures included) to ``data/08_reporting/samlab_report.ipynb``.
- ``samlab run ...``: ``kedro run ...``.

Each works from anywhere inside the project (it looks for ``pyproject.toml`` with ``[tool.kedro]`` upwards).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

NOTEBOOK = Path("notebooks") / "samlab_report.ipynb"
NOTEBOOK_OUTPUT = Path("data") / "08_reporting" / "samlab_report.ipynb"


class CliError(RuntimeError):
    pass


def project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.kedro]" in pyproject.read_text():
            return folder
    raise CliError(
        f"not inside the samlab project: no pyproject.toml with [tool.kedro] at or above {here} "
        "(cd into your clone of samlab first)"
    )


def split_params(text: str | None) -> dict[str, Any]:
    """``a.b=1,c=x`` → nested dict, parsed as ``kedro run --params`` parses it (OmegaConf's dot list)."""
    from omegaconf import OmegaConf

    items = [p.strip() for p in (text or "").split(",") if p.strip()]
    bad = [p for p in items if "=" not in p or not p.split("=", 1)[0].strip()]
    if bad:
        raise CliError(f"--params: {', '.join(map(repr, bad))} not key=value")
    return OmegaConf.to_container(OmegaConf.from_dotlist(items)) if items else {}


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` into ``base`` key by key, as Kedro applies runtime parameters."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_parameters(root: Path, env: str | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
    from kedro.config import OmegaConfigLoader

    envs = environments(root)
    if env and env not in envs:
        raise CliError(f"unknown environment {env!r}; the project has: {', '.join(envs)}")
    loader = OmegaConfigLoader(conf_source=str(root / "conf"), base_env="base", default_run_env="local", env=env)
    return merged(dict(loader["parameters"]), params or {})


def environments(root: Path) -> list[str]:
    conf = root / "conf"
    return sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "base")


def pipeline_blocks(root: Path, pipeline: str, env: str | None) -> set[str]:
    """The parameters blocks a registered pipeline reads (as the hook sees them)."""
    from kedro.framework.project import configure_project, pipelines
    from kedro.framework.startup import bootstrap_project

    from samlab.config import blocks_used
    from samlab.pipelines import variants

    bootstrap_project(root)
    configure_project("samlab")
    before = os.environ.get("KEDRO_ENV")
    if env:  # the registry builds the variants' namespaces from this environment's parameters
        os.environ["KEDRO_ENV"] = env
    try:
        if hasattr(variants, "use_config_loader"):  # a registry that reads parameters through a hook-set loader
            variants.use_config_loader(None)
        if pipeline not in pipelines:
            raise CliError(f"unknown pipeline {pipeline!r}; registered: {', '.join(sorted(pipelines))}")
        return blocks_used(pipelines[pipeline].inputs())
    finally:
        if before is None:
            os.environ.pop("KEDRO_ENV", None)
        else:
            os.environ["KEDRO_ENV"] = before


def cmd_validate(args: argparse.Namespace) -> int:
    from samlab.config import validate_parameters

    root = project_root()
    params = load_parameters(root, args.env, split_params(args.params))
    blocks = pipeline_blocks(root, args.pipeline, args.env) if args.pipeline else None
    problems = validate_parameters(params, blocks)
    where = f"env {args.env or 'local'}" + (f", pipeline {args.pipeline}" if args.pipeline else ", every block")
    if problems:
        print(f"{len(problems)} problem(s) in the parameters ({where}):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"parameters OK ({where})")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from samlab.config import variant_blocks

    root = project_root()
    base = list(variant_blocks(load_parameters(root, None)))
    for env in environments(root):
        params = load_parameters(root, env)
        data, model, training = params.get("data", {}), params.get("model", {}), params.get("training", {})
        blocks = variant_blocks(params)
        names = ", ".join(f"{k} ({v['optimizer'].get('name')})" for k, v in blocks.items())
        # an environment with its own variant list is chosen with KEDRO_ENV (docs/architecture.md)
        command = f"kedro run --env {env}" if list(blocks) == base else f"KEDRO_ENV={env} kedro run"
        print(
            f"{env}: data {data.get('name')}, model {model.get('name')}, {training.get('epochs')} epochs, "
            f"batch {training.get('batch_size')}\n    variants: {names}\n    {command}"
        )
    return 0


def cmd_notebook(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient

    root = project_root()
    source = root / NOTEBOOK
    output = Path(args.output) if args.output else root / NOTEBOOK_OUTPUT
    nb = nbformat.read(source, as_version=4)
    NotebookClient(
        nb, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}}
    ).execute()
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, output)
    print(f"executed {source.relative_to(root)} → {output}")
    return 0


def cmd_run(rest: list[str]) -> int:
    from kedro.framework.cli.utils import find_run_command
    from kedro.framework.project import configure_project
    from kedro.framework.startup import bootstrap_project

    root = project_root()
    os.chdir(root)
    bootstrap_project(root)
    configure_project("samlab")
    run = find_run_command("samlab")
    return run(rest, standalone_mode=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="samlab",
        description=__doc__.split("\n\n")[0].strip("`"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check every parameters block (as kedro run does before any work)")
    v.add_argument("--env", "-e", default=None, help="Kedro environment (default: local)")
    v.add_argument("--params", default=None, help="overrides as for kedro run: a.b=1,c=x")
    v.add_argument("--pipeline", default=None, help="check only the blocks this pipeline reads")
    v.set_defaults(func=cmd_validate)
    r = sub.add_parser("recipes", help="list the environments with their data, model and variants")
    r.set_defaults(func=cmd_recipes)
    n = sub.add_parser("notebook", help=f"execute {NOTEBOOK} into {NOTEBOOK_OUTPUT}")
    n.add_argument("--output", default=None, help=f"where to write the executed notebook (default: {NOTEBOOK_OUTPUT})")
    n.add_argument("--timeout", type=int, default=-1, help="seconds per cell (-1: no limit)")
    n.set_defaults(func=cmd_notebook)
    sub.add_parser("run", help="kedro run (every option of kedro run after it)", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    try:
        if argv[:1] == ["run"]:
            return cmd_run(argv[1:])
        args = parser().parse_args(argv)
        return args.func(args)
    except CliError as exc:
        print(f"samlab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
