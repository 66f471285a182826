"""``transfer``: per training variant, build the target task and fine-tune / probe on it; then one table.

The target is built inside each namespace (in memory) so ``kedro run --namespaces <variant>`` works alone.
"""

from kedro.pipeline import Pipeline, node

from samlab.pipelines.transfer.nodes import build_target, collect, transfer_model
from samlab.pipelines.variants import bind_variant


def variant_pipeline(name: str) -> Pipeline:
    template = Pipeline(
        [
            node(
                build_target,
                inputs=["prepared_data", "params:transfer"],
                outputs="transfer_target",
                name="build_transfer_target",
                tags=["transfer"],
            ),
            node(
                bind_variant(transfer_model, name),
                inputs=["transfer_target", "model", "params:transfer"],
                outputs="transfer",
                name="transfer_model",
                tags=["transfer"],
            ),
        ]
    )
    return Pipeline(
        template, namespace=name, inputs={"prepared_data"}, parameters={"params:transfer": "params:transfer"}
    )


def create_pipeline(variants: list[str]) -> Pipeline:
    summary = Pipeline(
        [
            node(
                collect,
                inputs=[f"{n}.transfer" for n in variants],
                outputs="transfer_accuracy",
                name="collect_transfer",
                tags=["transfer", "summary"],
            ),
        ]
    )
    return summary + sum((variant_pipeline(n) for n in variants), Pipeline([]))
