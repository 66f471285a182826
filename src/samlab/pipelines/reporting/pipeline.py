"""``reporting``: learning curves of every variant and the summary table."""

from kedro.pipeline import Pipeline, node

from samlab.pipelines.reporting.nodes import plot_learning_curves, summarise_metrics
from samlab.pipelines.variants import training_variants


def create_pipeline(**kwargs) -> Pipeline:
    names = training_variants()
    return Pipeline(
        [
            node(plot_learning_curves, inputs={n: f"{n}.history" for n in names}, outputs="learning_curves",
                 name="plot_learning_curves", tags=["reporting"]),
            node(summarise_metrics, inputs={n: f"{n}.metrics" for n in names},
                 outputs=["summary_table", "summary_markdown"], name="summarise_metrics", tags=["reporting"]),
        ]
    )
