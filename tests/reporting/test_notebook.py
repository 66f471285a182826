"""The notebook runs top to bottom on the default run's outputs and reproduces the pipeline's figures."""

import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import HANG_TIMEOUT, REPO

pytestmark = pytest.mark.slow
NOTEBOOK = REPO / "notebooks" / "samlab_report.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    assert "%load_ext kedro.ipython" in nb.cells[1].source


def test_notebook_reproduces_the_figures_of_the_default_run(default_run, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(default_run, project, ignore=shutil.ignore_patterns("notebooks"))
    (project / "notebooks").mkdir()
    shutil.copy2(NOTEBOOK, project / "notebooks" / NOTEBOOK.name)
    nb = nbformat.read(project / "notebooks" / NOTEBOOK.name, as_version=4)
    NotebookClient(
        nb, timeout=HANG_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(project / "notebooks")}}
    ).execute()
    text = "\n".join(
        o.get("text", "")
        if o.output_type == "stream"
        else str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/markdown", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "trained: ['sgd', 'sam']" in text
    assert "learning curves reproduced: True" in text
    assert "| sam | sam |" in text and "**" in text  # the summary with the best bolded
    assert "No OBF sweep yet" in text  # tables the default run does not write (the study's) are named, not drawn
    figures = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert len(figures) >= 2  # learning curves and accuracy bars
