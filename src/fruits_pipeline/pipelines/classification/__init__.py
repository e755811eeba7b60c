"""Classification: a Spark ML classifier on PCA features (Training), scored on Test."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
