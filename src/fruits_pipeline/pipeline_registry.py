"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Runs on request only (kedro run --pipelines prediction): it needs a model bundle.
ON_REQUEST = {"prediction"}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` trains, reports and publishes."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(p for name, p in pipelines.items() if name not in ON_REQUEST)
    return pipelines
