from kedro.pipeline import Pipeline, node, pipeline

from .nodes import label_images


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                label_images,
                inputs="raw_images",
                outputs="labelled_images",
                name="label_images",
            ),
        ]
    )
