"""Ingestion: binary image files -> rows with path, label and split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
