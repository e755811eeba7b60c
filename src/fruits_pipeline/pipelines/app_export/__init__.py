"""App export: the published model bundle as one on-device model MediaPipe apps load."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
