"""Which reporting nodes exist follows the catalog; missing report inputs load as None (hook)."""

import pandas as pd
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset

from samlab.hooks import OptionalReportInputs
from samlab.io import OptionalDataset
from samlab.pipelines.reporting.pipeline import TABLES, create_pipeline, declared_tables


def test_the_project_catalog_declares_every_pipelines_tables(project, monkeypatch):
    monkeypatch.chdir(project)
    p = create_pipeline()  # the project's own catalog: training, robustness, transfer, analysis and study tables
    assert {nd.name for nd in p.nodes} == {"plot_learning_curves", "summarise_metrics", "plot_accuracy_bars",
                                           "build_report", "plot_robustness", "plot_lorenz", "plot_probes",
                                           "plot_correlation", "plot_tau_vs_m", "plot_lr_rescaling", "plot_obf",
                                           "plot_balance_trajectory"}
    assert p.inputs() == {"sgd.history", "sam.history", "sgd.metrics", "sam.metrics", "parameters", "balance_lorenz",
                          "probe_accuracy", "robustness_accuracy", "robustness_mce", "transfer_accuracy",
                          "study_correlation", "study_models", "study_tau_vs_m", "lr_rescaling_factors", "obf_sweep",
                          "feature_balance_trajectory"}
    assert all("reporting" in nd.tags for nd in p.nodes)


def test_only_the_foundation_tables_means_only_training_figures(project, monkeypatch):
    monkeypatch.chdir(project)
    p = create_pipeline(catalog_config={})  # no report table declared: only what training writes
    assert {nd.name for nd in p.nodes} == {"plot_learning_curves", "summarise_metrics", "plot_accuracy_bars",
                                           "build_report"}
    assert p.inputs() == {"sgd.history", "sam.history", "sgd.metrics", "sam.metrics", "parameters"}


def test_a_declared_table_adds_its_figure_node(project, monkeypatch):
    monkeypatch.chdir(project)
    config = {"robustness_accuracy": {"type": "pandas.CSVDataset", "filepath": "r.csv"},
              "{kind}_correlation": {"type": "pandas.CSVDataset", "filepath": "{kind}.csv"},  # a factory pattern
              "study_models": {"type": "pandas.CSVDataset", "filepath": "s.csv"}}
    assert declared_tables(config) == {"robustness", "correlation", "study_models"}
    p = create_pipeline(catalog_config=config)
    by_name = {nd.name: nd for nd in p.nodes}
    assert by_name["plot_robustness"].outputs == ["robustness_heatmap", "severity_lines"]
    assert set(by_name["plot_correlation"].inputs) == {"study_models", "study_correlation"}
    assert "robustness_accuracy" in by_name["summarise_metrics"].inputs
    assert "plot_obf" not in by_name and "tau_vs_m" not in by_name["build_report"].inputs
    assert {"robustness_heatmap", "metric_vs_accuracy"} <= set(by_name["build_report"].inputs)


def test_every_table_name_is_unique_and_no_figure_reuses_one():
    names = [ds for ds, _ in TABLES.values()]
    assert len(set(names)) == len(names)
    from samlab.pipelines.reporting.pipeline import REPORT_ORDER
    assert not set(names) & set(REPORT_ORDER)


def test_hook_wraps_only_missing_free_inputs_of_reporting_nodes(tmp_path):
    present = CSVDataset(filepath=str(tmp_path / "present.csv"))
    present.save(pd.DataFrame({"a": [1]}))
    catalog = DataCatalog({"present": present, "missing": CSVDataset(filepath=str(tmp_path / "missing.csv")),
                           "made_here": CSVDataset(filepath=str(tmp_path / "made.csv")),
                           "other_missing": CSVDataset(filepath=str(tmp_path / "other.csv"))})
    pipeline = Pipeline([
        node(lambda: pd.DataFrame({"b": [2]}), None, "made_here", name="make"),
        node(lambda a, b, c: None, ["present", "missing", "made_here"], "report", name="r", tags=["reporting"]),
        node(lambda x: None, "other_missing", "y", name="not_reporting"),
    ])
    OptionalReportInputs().before_pipeline_run({}, pipeline, catalog)
    assert isinstance(catalog.get("missing"), OptionalDataset) and catalog.load("missing") is None
    assert isinstance(catalog.get("present"), CSVDataset) and isinstance(catalog.get("made_here"), CSVDataset)
    assert isinstance(catalog.get("other_missing"), CSVDataset)  # other pipelines keep Kedro's error


def test_reporting_alone_on_an_empty_project_says_what_to_run(project):
    from tests.conftest import kedro

    kedro(project, "run", "--pipeline", "reporting")
    report = (project / "data" / "08_reporting" / "report.html").read_text()
    assert "No training history yet: run `kedro run --pipeline training`." in report
    assert "No trained model to summarise yet" in report
    assert "No robustness results yet: run `kedro run --pipeline robustness`." in report  # declared, not run
    assert "0 of 11 figures have data" in report
    assert "No trained model yet" in (project / "data" / "08_reporting" / "summary.md").read_text()
