from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    plot_label_counts,
    plot_pca_scatter,
    plot_sample_grid,
    plot_scree,
    render_reports,
    write_summary,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                plot_scree,
                inputs=["explained_variance", "reduction_model", "params:reduction"],
                outputs="scree_plot",
                name="plot_scree",
            ),
            node(plot_label_counts, "pca_features", "label_counts", name="plot_label_counts"),
            node(
                plot_sample_grid,
                "image_features",
                "sample_grid",
                name="plot_sample_grid",
            ),
            node(plot_pca_scatter, "pca_features", "pca_scatter", name="plot_pca_scatter"),
            node(
                write_summary,
                inputs=[
                    "pca_features",
                    "explained_variance",
                    "classification_metrics",
                    "rejected_images",
                    "input_summary",
                ],
                outputs="run_summary",
                name="write_summary",
            ),
            node(
                render_reports,
                inputs=[
                    "run_summary",
                    "classification_metrics",
                    "explained_variance",
                    "rejected_images",
                    "scree_plot",
                    "label_counts",
                    "sample_grid",
                    "pca_scatter",
                    "confusion_matrix",
                ],
                outputs="run_reports",
                name="render_reports",
            ),
        ]
    )
