from kedro.pipeline import Pipeline, node

from samlab.pipelines.data_preparation.nodes import prepare_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [node(prepare_data, inputs="params:data", outputs="prepared_data", name="prepare_data", tags=["data"])]
    )
