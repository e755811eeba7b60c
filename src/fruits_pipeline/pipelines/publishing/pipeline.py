from kedro.pipeline import Pipeline, node, pipeline

from .nodes import publish_model_bundle


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                publish_model_bundle,
                inputs=[
                    "featurizer",
                    "reduction_model",
                    "classifier",
                    "input_summary",
                    "classification_metrics",
                    "rejected_images",
                    "run_reports",
                    "params:reduction",
                    "calibrated_head",
                    "source_metrics",
                    "augmentation_summary",
                ],
                outputs=["model_bundle", "published_model_bundle"],
                name="publish_model_bundle",
            ),
        ]
    )
