"""``fruits-predict PHOTO [PHOTO...]``: the top-3 fruit classes of each photo.

Reads one model bundle (the newest complete one, or ``--model-version``) and runs the
prediction pipeline's own node on the photos, so it predicts exactly as
``kedro run --pipelines prediction`` does.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from fruits_pipeline.errors import find_user_error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fruits-predict", description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", help="image files (JPEG, PNG, WEBP, GIF, BMP, TIFF)")
    parser.add_argument("--project", default=".", help="Kedro project folder (default: .)")
    parser.add_argument("--env", default="local", help="Kedro config env (default: local)")
    parser.add_argument("--model-version", help="model bundle version (default: the newest)")
    args = parser.parse_args(argv)

    # stdout is the answer (first line = best class): keep Kedro's logs and warnings out.
    logging.disable(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    try:
        return _predict(args)
    except Exception as error:
        user_error = find_user_error(error)
        if user_error is None:
            raise
        print(f"fruits-predict: {user_error}", file=sys.stderr)
        return 2


def _predict(args) -> int:
    from kedro.framework.session import KedroSession  # noqa: PLC0415 - CLI start-up only
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415
    from pyspark.sql import functions as F  # noqa: PLC0415

    from fruits_pipeline.datasets.hadoop_fs import glob_escape  # noqa: PLC0415
    from fruits_pipeline.pipelines.prediction.nodes import predict_photos  # noqa: PLC0415

    project = Path(args.project).resolve()
    photos = [Path(photo).resolve() for photo in args.photos]
    errors = [
        f"fruits-predict: {p}: no such file; check the path" for p in photos if not p.is_file()
    ]
    found = [p for p in photos if p.is_file()]
    os.chdir(project)  # relative paths in the project's config start at its root, as in kedro run
    bootstrap_project(project)
    runtime = {"model_version": args.model_version} if args.model_version else {}
    with KedroSession.create(project_path=project, env=args.env, runtime_params=runtime) as session:
        context = session.load_context()  # the project's hook starts Spark
        bundle = context.catalog.load("model_bundle")
        ranked, rejected = {}, {}
        if found:
            from pyspark.sql import SparkSession  # noqa: PLC0415

            spark = SparkSession.getActiveSession()
            images = (
                spark.read.format("binaryFile")
                .load([glob_escape(f"file:{p}") for p in found])
                .select(
                    "path",
                    F.lit(None).cast("string").alias("label"),
                    F.lit(None).cast("string").alias("split"),
                    F.col("length").alias("size_bytes"),
                    F.col("modificationTime").alias("modified"),
                    "content",
                )
            )
            predictions, bad = predict_photos(images, bundle, context.params["featurization"])
            ranked = {row.path: row for row in predictions.itertuples(index=False)}
            rejected = dict(zip(bad["path"], bad["reason"], strict=True))
    for line in errors:
        print(line, file=sys.stderr)
    for photo in found:
        key = f"file:{photo}"
        if key in rejected:
            print(f"fruits-predict: {photo}: {rejected[key]}", file=sys.stderr)
            continue
        if len(photos) > 1:
            print(f"# {photo}")
        row = ranked[key]
        print(row.predicted_label)
        for part in row.top_3.split("; "):
            label, probability = part.rsplit(" ", 1)
            print(f"  {float(probability):6.1%}  {label}")
    return 1 if errors or rejected else 0


if __name__ == "__main__":
    sys.exit(main())
