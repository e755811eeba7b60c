from kedro.pipeline import Pipeline, node, pipeline

from fruits_pipeline.pipelines.featurization.nodes import featurize_images

from .nodes import make_composites, merge_composite_features, plan_composites


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                plan_composites,
                inputs=[
                    "labelled_images",
                    "augmentation_backgrounds",
                    "params:augmentation",
                    "params:featurization",
                ],
                outputs=["composite_plan", "augmentation_summary"],
                name="plan_composites",
            ),
            node(
                make_composites,
                inputs=[
                    "composite_plan",
                    "labelled_images",
                    "augmentation_backgrounds",
                    "stored_image_features",
                    "featurizer",
                    "params:incremental",
                    "params:augmentation",
                ],
                outputs=["composites_to_featurize", "composite_files", "reused_composite_features"],
                name="make_composites",
            ),
            # The photos' featurizer node function, on the composites' JPEG bytes.
            node(
                featurize_images,
                inputs=[
                    "composites_to_featurize",
                    "composite_files",
                    "featurizer",
                    "params:featurization",
                ],
                outputs=["new_composite_features", "rejected_composites"],
                name="featurize_composites",
            ),
            node(
                merge_composite_features,
                inputs=["reused_composite_features", "new_composite_features"],
                outputs="composite_features",
                name="merge_composite_features",
            ),
        ]
    )
