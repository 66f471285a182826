"""``robustness``: build the test sets once, evaluate every training variant on them, then tabulate mCE."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from samlab.pipelines.robustness.nodes import build_test_sets, evaluate_model, summarise
from samlab.pipelines.variants import training_variants


def _named(func, name: str):
    return update_wrapper(partial(func, variant_name=name), func)


def variant_pipeline(name: str) -> Pipeline:
    template = Pipeline([
        node(_named(evaluate_model, name), inputs=["robustness_sets", "model", "params:robustness"],
             outputs="robustness", name="evaluate_robustness", tags=["robustness"]),
    ])
    return Pipeline(template, namespace=name, inputs={"robustness_sets"},
                    parameters={"params:robustness": "params:robustness"})


def create_pipeline(**kwargs) -> Pipeline:
    names = training_variants()
    shared = Pipeline([
        node(build_test_sets, inputs=["prepared_data", "params:robustness"], outputs="robustness_sets",
             name="build_robustness_sets", tags=["robustness"]),
        node(summarise, inputs=["params:robustness", *[f"{n}.robustness" for n in names]],
             outputs=["robustness_results", "robustness_mce"], name="summarise_robustness", tags=["robustness"]),
    ])
    return shared + sum((variant_pipeline(n) for n in names), Pipeline([]))
