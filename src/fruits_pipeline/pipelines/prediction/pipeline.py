"""``kedro run --pipelines prediction``: a folder of photos through the newest model bundle."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import predict_photos


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                predict_photos,
                inputs=["photos_to_predict", "model_bundle", "params:featurization"],
                outputs=["predictions", "rejected_photos"],
                name="predict_photos",
            ),
        ]
    )
