"""Reporting: figures and tables about the run, written to data/08_reporting/."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
