from kedro.pipeline import Pipeline, node, pipeline

from .nodes import evaluate_classifier, train_classifier


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                train_classifier,
                inputs=["pca_features", "params:classification"],
                outputs="classifier",
                name="train_classifier",
            ),
            node(
                evaluate_classifier,
                inputs=["pca_features", "classifier"],
                outputs=["classification_metrics", "confusion_matrix"],
                name="evaluate_classifier",
            ),
        ]
    )
