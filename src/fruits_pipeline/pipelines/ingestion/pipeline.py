from kedro.pipeline import Pipeline, node, pipeline

from .nodes import split_images


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                split_images,
                inputs=["raw_images", "params:ingestion", "params:input_path"],
                outputs=["labelled_images", "input_summary"],
                name="split_images",
            ),
        ]
    )
