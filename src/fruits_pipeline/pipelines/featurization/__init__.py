"""Featurization: image bytes -> 1280-d MobileNetV2 (ImageNet) features."""

__all__ = ["create_pipeline"]


def __getattr__(name: str):
    # Lazy: the Spark-free predictor imports .model without pulling in pyspark and Kedro.
    if name == "create_pipeline":
        from .pipeline import create_pipeline  # noqa: PLC0415

        return create_pipeline
    raise AttributeError(name)
