"""Recognition: the bundle's numpy head and its calibrated "unknown"."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
