from kedro.pipeline import Pipeline, node, pipeline

from .nodes import evaluate_classifier, train_classifier, train_family_classifier


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
                train_family_classifier,
                inputs=["pca_features", "params:classification"],
                outputs="family_classifier",
                name="train_family_classifier",
            ),
            node(
                evaluate_classifier,
                inputs=["pca_features", "classifier"],
                outputs=["classification_metrics", "confusion_matrix"],
                name="evaluate_classifier",
            ),
        ]
    )
