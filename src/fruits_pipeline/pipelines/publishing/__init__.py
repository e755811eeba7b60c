"""Publishing: the run's model bundle, written last (what prediction and reports read)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
