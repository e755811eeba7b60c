"""Ingestion: which photos are for training and which for testing, and what came in.

The photos themselves, with label and split parsed from their paths, come from the
``raw_images`` dataset (``datasets.ImageFolderDataset``: the label rule lives there).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from fruits_pipeline.params import IngestionParams

logger = logging.getLogger(__name__)


def holdout_size(n_images: int, test_fraction: float) -> int:
    """Test images of a class with ``n_images``: at least one, never all (none for one image)."""
    if n_images < 2:
        return 0
    return min(max(round(n_images * test_fraction), 1), n_images - 1)


def split_images(
    raw_images: DataFrame, params: dict[str, Any], input_path: str
) -> tuple[DataFrame, dict[str, Any]]:
    """Every labelled photo gets a split: its folder's, or a seeded stratified holdout.

    With a ``Test`` folder (and photos outside it), photos outside ``Training``/``Test``
    count as Training. Without one, each class holds out ``test_fraction`` of its photos
    (at least one, when it has two or more), chosen by a hash of the path and ``seed``:
    the same photos on every run, and no shuffle of image bytes (ranks use paths only).

    Returns:
        ``labelled_images`` and ``input_summary`` (input path, how the split was made,
        images per split and class).
    """
    config = IngestionParams.model_validate(params)
    metadata = raw_images.select("path", "label", "split").where(F.col("label").isNotNull())
    counts = {
        (r.label, r.split): r["count"] for r in metadata.groupBy("label", "split").count().collect()
    }
    per_class: dict[str, int] = {}
    for (label, _split), n in counts.items():
        per_class[label] = per_class.get(label, 0) + n

    splits = {split for _label, split in counts}
    if "Test" in splits and splits != {"Test"}:
        labelled = raw_images.withColumn(
            "split", F.when(F.col("label").isNotNull(), F.coalesce("split", F.lit("Training")))
        )
        test = {label: counts.get((label, "Test"), 0) for label in per_class}
        source = "folders"
    else:
        test = {label: holdout_size(n, config.test_fraction) for label, n in per_class.items()}
        rank = F.row_number().over(Window.partitionBy("label").orderBy("hash", "path"))
        wanted = F.create_map(*[x for label, k in test.items() for x in (F.lit(label), F.lit(k))])
        cut = {
            r.label: r.hash
            for r in metadata.withColumn("hash", F.xxhash64("path", F.lit(config.seed)))
            .withColumn("rank", rank)
            .where(F.col("rank") == wanted[F.col("label")])
            .select("label", "hash")
            .collect()
        }
        threshold = F.create_map(*[x for label, h in cut.items() for x in (F.lit(label), F.lit(h))])
        in_test = F.xxhash64("path", F.lit(config.seed)) <= threshold[F.col("label")]
        labelled = raw_images.withColumn(
            "split",
            F.when(F.col("label").isNull(), F.lit(None).cast("string"))
            .when(F.coalesce(in_test, F.lit(False)), "Test")
            .otherwise("Training"),
        )
        source = (
            f"holdout (no Test folder): test_fraction={config.test_fraction}, seed={config.seed}"
        )
        logger.info("no Test folder: %s of each class held out for testing (seed %d)",
                    f"{config.test_fraction:.0%}", config.seed)  # fmt: skip

    summary = {
        "input_path": input_path,
        "split": source,
        "classes": len(per_class),
        "images": {
            "Training": {label: n - test[label] for label, n in sorted(per_class.items())},
            "Test": {label: test[label] for label in sorted(per_class)},
        },
    }
    return labelled, summary
