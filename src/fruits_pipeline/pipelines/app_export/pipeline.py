from kedro.pipeline import Pipeline, node, pipeline

from .nodes import export_app_model


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                export_app_model,
                inputs=["published_model_bundle", "featurizer_weights"],
                outputs="app_model",
                name="export_app_model",
            ),
        ]
    )
