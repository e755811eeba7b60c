"""Bind what a run made into one model bundle."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.ml import PipelineModel

from fruits_pipeline import __version__
from fruits_pipeline.artifacts import Featurizer, LinearHead, ModelBundle
from fruits_pipeline.pipelines.classification.nodes import SkippedClassifier


def project_revision(start: Path | None = None) -> str | None:
    """The git commit of the project checkout, when the code runs from one (else None)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=start or Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def publish_model_bundle(
    featurizer: Featurizer,
    reduction_model: PipelineModel,
    classifier: PipelineModel | SkippedClassifier,
    input_summary: dict[str, Any],
    classification_metrics: dict[str, Any],
    rejected_images: pd.DataFrame,
    run_reports: dict[str, bytes],
    reduction_params: dict[str, Any],
    linear_head: LinearHead | SkippedClassifier,
    source_metrics: dict[str, Any],
    augmentation_summary: dict[str, Any],
) -> tuple[ModelBundle, ModelBundle]:
    """Node: the run's featurizer, PCA, classifier, summary and reports as one bundle.

    The catalog saves it last, as a whole: a reader gets this run's bundle complete, or
    the previous one. It is returned twice: to the catalog (``model_bundle``), and in
    memory to the nodes after it in this run (``published_model_bundle``, with its version
    once saved), because loading ``model_bundle`` follows ``--params model_version``, which
    may name an older bundle.
    """
    skipped = isinstance(classifier, SkippedClassifier)
    head = None if isinstance(linear_head, SkippedClassifier) else linear_head
    manifest = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "project_version": __version__,
        "git_commit": project_revision(),
        "featurizer": featurizer.settings(),
        "k": int(reduction_model.stages[-1].getK()),
        "reduction": reduction_params,
        "classes": [] if skipped else list(classifier.stages[1].labels),
        "classifier": f"skipped: {classifier.reason}" if skipped else "logistic regression",
        "input": {
            **{k: v for k, v in input_summary.items() if k != "sources"},
            "rejected": len(rejected_images),
        },
        "metrics": {k: v for k, v in classification_metrics.items() if k != "per_class"},
        "reports": sorted(run_reports),
        "families": {} if head is None else head.class_families,
        "unknown": {} if head is None else head.unknown,
        # Per source: its photos per split and label, and its Test photos' scores.
        "sources": {
            name: {
                **input_summary.get("sources", {}).get(name, {}),
                "metrics": source_metrics.get(name, {}),
            }
            for name in sorted({*input_summary.get("sources", {}), *source_metrics})
        },
        # Training composites (pipelines/augmentation): how many, of which kinds, settings.
        "augmentation": augmentation_summary,
    }
    bundle = ModelBundle(
        featurizer=featurizer,
        reduction=reduction_model,
        classifier=None if skipped else classifier,
        manifest=manifest,
        reports=run_reports,
        head=head,
    )
    return bundle, bundle
