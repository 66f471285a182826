"""The reporting pipeline draws a declared list of tables; missing report inputs load as None (hook)."""

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset

from samlab.hooks import OptionalReportInputs
from samlab.io import OptionalDataset
from samlab.pipelines.reporting.pipeline import FIGURE_NODES, TABLES, create_pipeline
from tests.conftest import REPO


def test_the_graph_is_the_declared_list_whatever_has_run():
    p = create_pipeline(["sgd", "sam"])
    assert {nd.name for nd in p.nodes} == {
        "plot_learning_curves",
        "plot_update_curves",
        "summarise_metrics",
        "dvc_metrics",
        "plot_accuracy_bars",
        "build_report",
        *(f.name for f in FIGURE_NODES),
    }
    assert p.inputs() == {
        "sgd.history",
        "sam.history",
        "sgd.metrics",
        "sam.metrics",
        "parameters",
        "sgd.update_curves_files",
        "sam.update_curves_files",
        *(ds for ds, _ in TABLES.values()),
    }
    assert all("reporting" in nd.tags for nd in p.nodes)
    by_name = {nd.name: nd for nd in p.nodes}
    assert by_name["plot_robustness"].outputs == ["robustness_heatmap", "severity_lines"]
    assert set(by_name["plot_correlation"].inputs) == {"study_models", "study_correlation"}
    assert {"robustness_accuracy", "robustness_mce", "transfer_accuracy"} <= set(by_name["summarise_metrics"].inputs)


def test_every_declared_table_and_figure_is_in_the_project_catalog():
    catalog = OmegaConfigLoader(conf_source=str(REPO / "conf"), base_env="base", default_run_env="local")["catalog"]
    outputs = {o for nd in create_pipeline(["sgd"]).nodes for o in nd.outputs}
    missing = sorted(name for name in {*(ds for ds, _ in TABLES.values()), *outputs} if name not in catalog)
    assert not missing, f"declared but not in conf/base/catalog.yml: {missing}"


def test_every_table_name_is_unique_and_no_figure_reuses_one():
    names = [ds for ds, _ in TABLES.values()]
    assert len(set(names)) == len(names)
    from samlab.pipelines.reporting.pipeline import REPORT_ORDER

    assert not set(names) & set(REPORT_ORDER)


def test_hook_wraps_only_missing_free_inputs_of_reporting_nodes(tmp_path):
    present = CSVDataset(filepath=str(tmp_path / "present.csv"))
    present.save(pd.DataFrame({"a": [1]}))
    catalog = DataCatalog(
        {
            "present": present,
            "missing": CSVDataset(filepath=str(tmp_path / "missing.csv")),
            "made_here": CSVDataset(filepath=str(tmp_path / "made.csv")),
            "other_missing": CSVDataset(filepath=str(tmp_path / "other.csv")),
        }
    )
    pipeline = Pipeline(
        [
            node(lambda: pd.DataFrame({"b": [2]}), None, "made_here", name="make"),
            node(lambda a, b, c: None, ["present", "missing", "made_here"], "report", name="r", tags=["reporting"]),
            node(lambda x: None, "other_missing", "y", name="not_reporting"),
        ]
    )
    OptionalReportInputs().before_pipeline_run({}, pipeline, catalog)
    assert isinstance(catalog.get("missing"), OptionalDataset) and catalog.load("missing") is None
    assert isinstance(catalog.get("present"), CSVDataset) and isinstance(catalog.get("made_here"), CSVDataset)
    assert isinstance(catalog.get("other_missing"), CSVDataset)  # other pipelines keep Kedro's error


@pytest.mark.slow
def test_reporting_alone_on_an_empty_project_says_what_to_run(project):
    from tests.conftest import kedro

    kedro(project, "run", "--pipelines", "reporting")
    report = (project / "data" / "08_reporting" / "report.html").read_text()
    assert "No training history yet: run `kedro run --pipelines training`." in report
    assert "No trained model to summarise yet" in report
    assert "No robustness results yet: run `kedro run --pipelines robustness`." in report  # declared, not run
    assert "0 of 12 figures have data" in report
    assert "No per-update curves yet" in report
    assert "No trained model yet" in (project / "data" / "08_reporting" / "summary.md").read_text()
