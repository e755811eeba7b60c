"""Prediction: the trained featurizer, PCA and classifier applied to a folder of photos."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
