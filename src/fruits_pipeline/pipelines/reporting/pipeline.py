from kedro.pipeline import Pipeline, node, pipeline

from .nodes import plot_scree


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                plot_scree,
                inputs=["explained_variance", "reduction_model", "params:reduction"],
                outputs="scree_plot",
                name="plot_scree",
            ),
        ]
    )
