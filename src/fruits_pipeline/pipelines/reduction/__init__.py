"""Reduction: optional StandardScaler, then PCA with k fixed or chosen by explained variance."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
