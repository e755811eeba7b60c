from kedro.pipeline import Pipeline, node, pipeline

from .featurizer import build_featurizer
from .nodes import featurize_images, merge_image_features, select_images_to_featurize


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                build_featurizer,
                inputs=["featurizer_weights", "params:featurization", "labelled_images"],
                outputs="featurizer",
                name="build_featurizer",
            ),
            node(
                select_images_to_featurize,
                inputs=[
                    "labelled_images",
                    "stored_image_features",
                    "featurizer",
                    "params:incremental",
                ],
                outputs=["images_to_featurize", "files_to_featurize", "reused_image_features"],
                name="select_images_to_featurize",
            ),
            node(
                featurize_images,
                inputs=[
                    "images_to_featurize",
                    "files_to_featurize",
                    "featurizer",
                    "params:featurization",
                ],
                outputs=["new_image_features", "rejected_images"],
                name="featurize_images",
            ),
            node(
                merge_image_features,
                inputs=["reused_image_features", "new_image_features", "composite_features"],
                outputs="image_features",
                name="merge_image_features",
            ),
        ]
    )
