"""fruits_pipeline: Fruits-360 photos -> MobileNetV2 features -> PCA components, with Spark."""

__version__ = "0.1.0"
