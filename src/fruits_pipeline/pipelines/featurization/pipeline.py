from kedro.pipeline import Pipeline, node, pipeline

from .nodes import featurize_images


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                featurize_images,
                inputs=["labelled_images", "params:featurization"],
                outputs=["image_features", "rejected_images"],
                name="featurize_images",
            ),
        ]
    )
