from kedro.pipeline import Pipeline, node, pipeline

from .nodes import plot_label_counts, plot_pca_scatter, plot_sample_grid, plot_scree, write_summary


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                plot_scree,
                inputs=["explained_variance", "reduction_model", "params:reduction"],
                outputs="scree_plot",
                name="plot_scree",
            ),
            node(plot_label_counts, "pca_features_table", "label_counts", name="plot_label_counts"),
            node(
                plot_sample_grid,
                ["raw_images", "image_features"],
                "sample_grid",
                name="plot_sample_grid",
            ),
            node(plot_pca_scatter, "pca_features_table", "pca_scatter", name="plot_pca_scatter"),
            node(
                write_summary,
                inputs=[
                    "pca_features_table",
                    "explained_variance",
                    "classification_metrics",
                    "rejected_images",
                ],
                outputs="run_summary",
                name="write_summary",
            ),
        ]
    )
