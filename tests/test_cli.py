"""The ``samlab`` command: validate (the run's up-front checks), recipes, notebook; a clear error outside the project."""

from __future__ import annotations

import nbformat
import pytest

from samlab.__main__ import load_parameters, main
from tests.conftest import copy_project


@pytest.fixture
def inside(tmp_path, monkeypatch):
    project = copy_project(tmp_path)
    (project / "notebooks").mkdir(exist_ok=True)
    monkeypatch.chdir(project / "conf")  # anywhere inside the project
    return project


def test_validate_prints_every_problem_and_fails(inside, capsys):
    assert main(["validate"]) == 0
    assert "parameters OK (env local, every block)" in capsys.readouterr().out
    v = "variants." if "variants" in load_parameters(inside, "variants") else ""  # an explicit variants map
    assert (
        main(
            [
                "validate",
                "--env",
                "variants",
                "--params",
                f"{v}sam.optimizer.rhoo=0.1,training.epoch=1,{v}gsam.optimizer.lr=0",
            ]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert out.startswith("3 problem(s) in the parameters (env variants, every block):")
    assert "sam.optimizer.rhoo: unknown setting for optimizer 'sam' on base 'sgd' (did you mean 'rho'?)" in out
    assert (
        "training.epoch: unknown setting (did you mean 'epochs'?)" in out
        and "gsam.optimizer.lr: lr must be > 0, got 0" in out
    )
    assert main(["validate", "--env", "nowhere"]) == 2
    assert "unknown environment 'nowhere'" in capsys.readouterr().err


def test_recipes_lists_environments_and_their_variants(inside, capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "local: data digits, model resnet10t" in out and "variants: sgd (sgd), sam (sam)" in out
    assert "gsam_obf (gsam_obf)" in out and "KEDRO_ENV=variants kedro run" in out
    assert "kedro run --env study_cifar10" in out  # same variant list as the base: --env works


def test_outside_the_project_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    assert "not inside the samlab project" in capsys.readouterr().err


def test_notebook_is_written_executed_where_named(inside, capsys):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import os\nprint('cwd', os.path.basename(os.getcwd()))")]
    )
    nbformat.write(nb, inside / "notebooks" / "samlab_report.ipynb")
    assert main(["notebook"]) == 0
    written = inside / "data" / "08_reporting" / "samlab_report.ipynb"
    assert str(written) in capsys.readouterr().out
    outputs = nbformat.read(written, as_version=4).cells[0].outputs
    assert outputs[0]["text"] == "cwd notebooks\n"  # run from notebooks/, as the report notebook expects
