"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline, pipeline

# Runs on request only (kedro run --pipelines prediction): it needs a model bundle.
ON_REQUEST = {"prediction"}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` trains, reports and publishes."""
    # Every node is tagged with its pipeline's name: kedro-viz filters by tag inside
    # __default__, and `kedro run --tags reporting` runs one stage.
    pipelines = {
        name: pipeline(found, tags=name)
        for name, found in find_pipelines(raise_errors=True).items()
    }
    pipelines["__default__"] = sum(p for name, p in pipelines.items() if name not in ON_REQUEST)
    return pipelines
