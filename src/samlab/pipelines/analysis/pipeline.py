"""``analysis``: for every training variant ``{ns}``: ``{ns}.model → {ns}.analysis, {ns}.lorenz, {ns}.probes,
{ns}.lr_rescaling``, then one table per kind over all variants (``analysis_summary``, ``balance_lorenz``,
``probe_accuracy``, ``lr_rescaling_factors``)."""

from kedro.pipeline import Pipeline, node

from samlab.pipelines.analysis.nodes import analyse_model, collect_analysis
from samlab.pipelines.variants import bind_variant


def variant_pipeline(name: str) -> Pipeline:
    template = Pipeline(
        [
            node(
                bind_variant(analyse_model, name),
                inputs=["prepared_data", "model", "params:analysis", "params:training"],
                outputs=["analysis", "lorenz", "probes", "lr_rescaling"],
                name="analyse_model",
                tags=["analysis"],
            ),
        ]
    )
    return Pipeline(
        template,
        namespace=name,
        inputs={"prepared_data"},
        parameters={"params:analysis": "params:analysis", "params:training": "params:training"},
    )


def create_pipeline(variants: list[str]) -> Pipeline:
    inputs = {}
    for n in variants:
        inputs.update(
            {
                f"{n}__metrics": f"{n}.analysis",
                f"{n}__lorenz": f"{n}.lorenz",
                f"{n}__probes": f"{n}.probes",
                f"{n}__rescaling": f"{n}.lr_rescaling",
            }
        )
    collect = node(
        collect_analysis,
        inputs=inputs,
        outputs=["analysis_summary", "balance_lorenz", "probe_accuracy", "lr_rescaling_factors"],
        name="collect_analysis",
        tags=["analysis", "summary"],
    )
    return sum((variant_pipeline(n) for n in variants), Pipeline([])) + Pipeline([collect])
