"""The same nodes as training, on new photos (``kedro run --pipelines prediction``)."""

from kedro.pipeline import Pipeline, node, pipeline

from fruits_pipeline.pipelines.classification.predict import predict_labels
from fruits_pipeline.pipelines.featurization.nodes import featurize_images
from fruits_pipeline.pipelines.ingestion.nodes import label_images
from fruits_pipeline.pipelines.reduction.nodes import transform_features


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(label_images, "photos_to_predict", "labelled_photos", name="label_photos"),
            node(
                featurize_images,
                inputs=["labelled_photos", "params:featurization"],
                outputs=["photo_features", "rejected_photos"],
                name="featurize_photos",
            ),
            node(
                transform_features,
                inputs=["photo_features", "reduction_model"],
                outputs="photo_pca_features",
                name="reduce_photos",
            ),
            node(
                predict_labels,
                inputs=["photo_pca_features", "classifier"],
                outputs="predictions",
                name="predict_photos",
            ),
        ]
    )
