from kedro.pipeline import Pipeline, node, pipeline

from .nodes import fit_reduction, to_csv_table, transform_features


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                fit_reduction,
                inputs=["image_features", "params:reduction"],
                outputs=["reduction_model", "explained_variance"],
                name="fit_reduction",
            ),
            node(
                transform_features,
                inputs=["image_features", "reduction_model"],
                outputs="pca_features",
                name="transform_features",
            ),
            node(
                to_csv_table,
                inputs="pca_features",
                outputs="pca_features_table",
                name="pca_features_to_table",
            ),
        ]
    )
