from kedro.pipeline import Pipeline, node, pipeline

from .nodes import build_linear_head


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                build_linear_head,
                inputs=["reduction_model", "classifier", "pca_features", "params:families"],
                outputs="linear_head",
                name="build_linear_head",
            ),
        ]
    )
