from kedro.pipeline import Pipeline, node, pipeline

from .nodes import featurize_new_images


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                featurize_new_images,
                inputs=[
                    "labelled_images",
                    "stored_image_features",
                    "params:featurization",
                    "params:incremental",
                ],
                outputs=["image_features", "rejected_images"],
                name="featurize_images",
            ),
        ]
    )
