from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    build_linear_head,
    calibrate_unknown,
    evaluate_sources,
    featurize_nofruit_photos,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                build_linear_head,
                inputs=[
                    "reduction_model",
                    "classifier",
                    "family_classifier",
                    "pca_features",
                    "params:families",
                ],
                outputs="linear_head",
                name="build_linear_head",
            ),
            node(
                featurize_nofruit_photos,
                inputs=["nofruit_photos", "featurizer", "params:featurization"],
                outputs=["nofruit_features", "rejected_nofruit_photos"],
                name="featurize_nofruit_photos",
            ),
            node(
                calibrate_unknown,
                inputs=["linear_head", "image_features", "nofruit_features", "params:unknown"],
                outputs="calibrated_head",
                name="calibrate_unknown",
            ),
            node(
                evaluate_sources,
                inputs=["calibrated_head", "image_features"],
                outputs="source_metrics",
                name="evaluate_sources",
            ),
        ]
    )
