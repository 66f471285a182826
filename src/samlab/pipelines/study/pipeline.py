"""``study``: three populations, each run → collect → tables; not in ``__default__`` (``kedro run --pipelines study``).

The graph is fixed (it does not depend on the parameters): the populations are built from parameters inside
``run_*`` nodes (``samlab.study``), which fan their members out over processes or a Dask cluster
(``params:study_runner``) and save one partition per member (``{study}_member_rows``,
``{study}_member_tables``, ``{study}_checkpoints``); the collectors read those partitions.

Tags ``tau``, ``obf_sweep``, ``features`` select one population (``kedro run --pipelines study --tags tau``).

- τ study (paper 1, Fig. 2): ``params:study`` → ``study_population`` → ``study_correlation``,
  ``study_models``, ``study_tau_vs_m`` and its figure ``tau_figure_tau_vs_m`` (solid only where p ≤ 0.05).
- OBF sweep (paper 1, Fig. 3 style): ``params:obf_sweep`` (on ``params:study``'s data, model, training) → ``obf_sweep``.
- Feature study (paper 2, Fig. 2–5): ``params:feature_study`` → ``feature_study``, ``feature_summary``,
  ``feature_lorenz``, ``feature_lr_factors``, ``feature_lambda_bins``, ``feature_balance_trajectory``, and
  their figures ``feature_figure_*`` (plotly JSON under data/08_reporting/figures/).
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from samlab.pipelines.study.nodes import (
    collect_feature_study,
    collect_obf_sweep,
    collect_tau_study,
    correlate,
    plot_feature_study,
    plot_tau_study,
    run_feature_study,
    run_obf_sweep,
    run_tau_study,
)


def create_pipeline(parameters: dict | None = None) -> Pipeline:
    """The fixed study graph; ``parameters`` (the registry passes them to every pipeline) are not needed: the
    populations are built from ``params:*`` inside the nodes."""
    return Pipeline(
        [
            node(
                run_tau_study,
                inputs=["params:study", "params:study_runner"],
                outputs=["tau_member_rows", "tau_member_tables", "tau_checkpoints"],
                name="run_tau_study",
                tags=["tau"],
            ),
            node(
                collect_tau_study,
                inputs=["tau_member_rows", "tau_member_tables"],
                outputs=["study_population", "study_forgetting", "study_balance"],
                name="collect_tau_study",
                tags=["tau"],
            ),
            node(
                correlate,
                inputs=["study_population", "params:study"],
                outputs=["study_correlation", "study_models", "study_tau_vs_m"],
                name="correlate",
                tags=["tau"],
            ),
            node(
                plot_tau_study,
                inputs=["study_tau_vs_m", "params:study"],
                outputs="tau_figure_tau_vs_m",
                name="plot_tau_study",
                tags=["tau"],
            ),
            node(
                run_obf_sweep,
                inputs=["params:obf_sweep", "params:study", "params:study_runner"],
                outputs=["obf_sweep_member_rows", "obf_sweep_member_tables", "obf_sweep_checkpoints"],
                name="run_obf_sweep",
                tags=["obf_sweep"],
            ),
            node(
                collect_obf_sweep,
                inputs="obf_sweep_member_rows",
                outputs="obf_sweep",
                name="collect_obf_sweep",
                tags=["obf_sweep"],
            ),
            node(
                run_feature_study,
                inputs=["params:feature_study", "params:study_runner"],
                outputs=["features_member_rows", "features_member_tables", "features_checkpoints"],
                name="run_feature_study",
                tags=["features"],
            ),
            node(
                collect_feature_study,
                inputs=["features_member_rows", "features_member_tables"],
                outputs=[
                    "feature_study",
                    "feature_summary",
                    "feature_lorenz",
                    "feature_lr_factors",
                    "feature_lambda_bins",
                    "feature_balance_trajectory",
                ],
                name="collect_feature_study",
                tags=["features"],
            ),
            node(
                plot_feature_study,
                inputs=["feature_summary", "feature_lorenz", "feature_lr_factors", "feature_lambda_bins"],
                outputs=[
                    "feature_figure_probe_error_vs_rho",
                    "feature_figure_phantom_ratio_vs_rho",
                    "feature_figure_lorenz_sgd_vs_lsam",
                    "feature_figure_lr_factors",
                    "feature_figure_lambda_bins",
                ],
                name="plot_feature_study",
                tags=["features"],
            ),
        ],
        tags=["study"],
    )
