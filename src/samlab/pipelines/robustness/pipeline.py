"""``robustness``: per training variant, build the test sets and evaluate on them; then tabulate mCE.

The test sets are built inside each namespace (in memory, deterministic for the seed, so every variant sees
identical corrupted images): ``kedro run --namespaces <variant>`` then works on its own, at the cost of one
suite generation per variant (seconds on the embedded default).
"""

from kedro.pipeline import Pipeline, node

from samlab.pipelines.robustness.nodes import build_test_sets, evaluate_model, summarise
from samlab.pipelines.variants import bind_variant


def variant_pipeline(name: str) -> Pipeline:
    template = Pipeline(
        [
            node(
                build_test_sets,
                inputs=["prepared_data", "params:robustness"],
                outputs="robustness_sets",
                name="build_robustness_sets",
                tags=["robustness"],
            ),
            node(
                bind_variant(evaluate_model, name),
                inputs=["robustness_sets", "model", "params:robustness"],
                outputs="robustness",
                name="evaluate_robustness",
                tags=["robustness"],
            ),
        ]
    )
    return Pipeline(
        template, namespace=name, inputs={"prepared_data"}, parameters={"params:robustness": "params:robustness"}
    )


def create_pipeline(variants: list[str]) -> Pipeline:
    summary = Pipeline(
        [
            node(
                summarise,
                inputs=["params:robustness", *[f"{n}.robustness" for n in variants]],
                outputs=["robustness_accuracy", "robustness_ce", "robustness_mce"],
                name="summarise_robustness",
                tags=["robustness", "summary"],
            ),
        ]
    )
    return summary + sum((variant_pipeline(n) for n in variants), Pipeline([]))
