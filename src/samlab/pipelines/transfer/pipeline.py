"""``transfer``: build the target task once, then fine-tune and probe every training variant on it."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from samlab.pipelines.transfer.nodes import build_target, collect, transfer_model
from samlab.pipelines.variants import training_variants


def _named(func, name: str):
    return update_wrapper(partial(func, variant_name=name), func)


def variant_pipeline(name: str) -> Pipeline:
    template = Pipeline([
        node(_named(transfer_model, name), inputs=["transfer_target", "model", "params:transfer"],
             outputs="transfer", name="transfer_model", tags=["transfer"]),
    ])
    return Pipeline(template, namespace=name, inputs={"transfer_target"},
                    parameters={"params:transfer": "params:transfer"})


def create_pipeline(**kwargs) -> Pipeline:
    names = training_variants()
    shared = Pipeline([
        node(build_target, inputs=["prepared_data", "params:transfer"], outputs="transfer_target",
             name="build_transfer_target", tags=["transfer"]),
        node(collect, inputs=[f"{n}.transfer" for n in names], outputs="transfer_results",
             name="collect_transfer", tags=["transfer"]),
    ])
    return shared + sum((variant_pipeline(n) for n in names), Pipeline([]))
