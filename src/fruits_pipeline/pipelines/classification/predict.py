"""``fruits-predict PHOTO [PHOTO...]``: the top-3 fruit classes of each photo.

Loads what a ``kedro run`` saved (featurizer settings, scaler + PCA, classifier) through
the project's catalog, so it predicts exactly as the pipeline featurizes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fruits_pipeline.pipelines.featurization.model import (
    ACCEPTED_FORMATS,
    RUNNERS,
    FeaturizerConfig,
    decode_image,
    export_model,
    preprocess,
    rejection_reason,
)
from fruits_pipeline.pipelines.reduction.nodes import transform_features


def top_classes(
    pca_features: DataFrame, classifier: PipelineModel, top: int = 3
) -> list[tuple[str, list[tuple[str, float]]]]:
    """(path, [(class, probability) x top]) per row, best class first."""
    labels = classifier.stages[1].labels
    rows = classifier.transform(pca_features).select("path", "probability").collect()
    ranked = []
    for row in rows:
        probabilities = row.probability.toArray()
        best = np.argsort(probabilities)[::-1][:top]
        ranked.append((row.path, [(labels[i], float(probabilities[i])) for i in best]))
    return ranked


def predict_labels(pca_features: DataFrame, classifier: PipelineModel) -> pd.DataFrame:
    """Kedro node: path, predicted class and its probability, and the top 3, per image."""
    return pd.DataFrame(
        [
            {
                "path": path,
                "predicted_label": ranked[0][0],
                "probability": ranked[0][1],
                "top_3": "; ".join(f"{label} {p:.3f}" for label, p in ranked),
            }
            for path, ranked in top_classes(pca_features, classifier)
        ],
        columns=["path", "predicted_label", "probability", "top_3"],
    )


def featurize_photos(
    photos: list[str], config: FeaturizerConfig
) -> tuple[list[tuple[str, list[float]]], list[str]]:
    """Features of every readable photo, in this process; one error line per unreadable one."""
    runner = RUNNERS[config.backend](export_model(config), threads=1)
    features, errors = [], []
    for photo in photos:
        try:
            image = decode_image(Path(photo).read_bytes(), config.image_size, config.resize_filter)
        except Exception as exc:  # missing file, bytes Pillow cannot decode, ...
            errors.append(f"fruits-predict: {photo}: {rejection_reason(exc)}")
            continue
        features.append((photo, runner(preprocess(image[np.newaxis]))[0].tolist()))
    return features, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fruits-predict", description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", help=f"image files ({', '.join(ACCEPTED_FORMATS)})")
    parser.add_argument("--project", default=".", help="Kedro project folder (default: .)")
    parser.add_argument("--env", default="local", help="Kedro config env (default: local)")
    args = parser.parse_args(argv)

    # stdout is the answer (first line = best class): keep Kedro's logs and warnings out.
    logging.disable(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    from kedro.framework.session import KedroSession  # noqa: PLC0415 - CLI start-up only
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    project = Path(args.project).resolve()
    photos = [str(Path(photo).resolve()) for photo in args.photos]
    os.chdir(project)  # relative paths in the project's config start at its root, as in kedro run
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=args.env) as session:
        context = session.load_context()  # the project's hook starts Spark
        try:
            reduction_model = context.catalog.load("reduction_model")
            classifier = context.catalog.load("classifier")
        except Exception as exc:
            print(
                f"fruits-predict: no trained model under {project} ({type(exc).__name__}); "
                "run `kedro run` (or `make run`) first.",
                file=sys.stderr,
            )
            return 2
        config = FeaturizerConfig.from_params(context.params["featurization"])
        features, errors = featurize_photos(photos, config)
        for line in errors:
            print(line, file=sys.stderr)
        if features:
            spark = SparkSession.getActiveSession()
            rows = spark.createDataFrame(features, "path string, features array<float>")
            rows = rows.withColumn("label", F.lit(None).cast("string"))
            rows = rows.withColumn("split", F.lit(None).cast("string"))
            ranked = dict(top_classes(transform_features(rows, reduction_model), classifier))
            for photo, _ in features:
                if len(photos) > 1:
                    print(f"# {photo}")
                best = ranked[photo]
                print(best[0][0])
                for label, probability in best:
                    print(f"  {probability:6.1%}  {label}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
