"""Featurization: image bytes -> 1280-d MobileNetV2 (ImageNet) features."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
