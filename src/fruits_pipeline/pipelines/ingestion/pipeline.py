from kedro.pipeline import Pipeline, node, pipeline

from .nodes import split_images


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                split_images,
                inputs=[
                    "raw_images",
                    "extra_images",
                    "params:ingestion",
                    "params:input_path",
                    "params:families",
                ],
                outputs=["labelled_images", "input_summary"],
                name="split_images",
            ),
        ]
    )
