"""``training``: for every training variant ``{ns}``, ``{ns}.train_model → {ns}.evaluate_model``.

``{ns}.checkpoints`` (an input) is the namespace's resumable-checkpoint folder, handed to the loop as a
store; ``{ns}.model`` is the final weights.
"""

from kedro.pipeline import Pipeline, node

from samlab.pipelines.training.nodes import evaluate_model, train_model
from samlab.pipelines.variants import bind_variant


def variant_pipeline(name: str) -> Pipeline:
    template = Pipeline(
        [
            node(
                bind_variant(train_model, name),
                inputs=["prepared_data", "params:model", "params:training", "params:variant", "checkpoints"],
                outputs=["model", "history"],
                name="train_model",
                tags=["training"],
            ),
            node(
                bind_variant(evaluate_model, name),
                inputs=["prepared_data", "model", "params:training"],
                outputs="metrics",
                name="evaluate_model",
                tags=["evaluation"],
            ),
        ]
    )
    return Pipeline(
        template,
        namespace=name,
        inputs={"prepared_data"},
        parameters={
            "params:model": "params:model",
            "params:training": "params:training",
            "params:variant": f"params:variants.{name}",
        },
    )


def create_pipeline(variants: list[str]) -> Pipeline:
    return sum((variant_pipeline(name) for name in variants), Pipeline([]))
