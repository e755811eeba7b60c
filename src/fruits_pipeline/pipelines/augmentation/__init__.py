"""Augmentation: Training composites of studio fruits on scenes, featurized like photos."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
