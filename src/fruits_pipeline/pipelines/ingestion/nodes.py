"""Ingestion: which photos are for training and which for testing, and what came in.

The photos themselves, with label and split parsed from their paths, come from the
``raw_images`` dataset (``datasets.ImageFolderDataset``: the label rule lives there).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from fruits_pipeline.params import IngestionParams

logger = logging.getLogger(__name__)


def holdout_size(n_images: int, test_fraction: float) -> int:
    """Test images of a class with ``n_images``: at least one, never all (none for one image)."""
    if n_images < 2:
        return 0
    return min(max(round(n_images * test_fraction), 1), n_images - 1)


def _assign_splits(
    images: DataFrame, key: Column, config: IngestionParams
) -> tuple[DataFrame, dict[tuple[str, str], int], dict[str, int], str]:
    """The split rule (see ``split_images``) over ``images``, stratified by ``key``.

    Returns the images with their split, Test images per key, images per key and how
    the split was made.
    """
    metadata = images.select("path", key.alias("key"), "split").where(F.col("key").isNotNull())
    counts = {
        (r.key, r.split): r["count"] for r in metadata.groupBy("key", "split").count().collect()
    }
    per_key: dict[str, int] = {}
    for (name, _split), n in counts.items():
        per_key[name] = per_key.get(name, 0) + n

    splits = {split for _key, split in counts}
    if "Test" in splits and splits != {"Test"}:
        labelled = images.withColumn(
            "split", F.when(key.isNotNull(), F.coalesce("split", F.lit("Training")))
        )
        test = {name: counts.get((name, "Test"), 0) for name in per_key}
        return labelled, test, per_key, "folders"
    test = {name: holdout_size(n, config.test_fraction) for name, n in per_key.items()}
    rank = F.row_number().over(Window.partitionBy("key").orderBy("hash", "path"))
    wanted = F.create_map(*[x for name, k in test.items() for x in (F.lit(name), F.lit(k))])
    cut = {
        r.key: r.hash
        for r in metadata.withColumn("hash", F.xxhash64("path", F.lit(config.seed)))
        .withColumn("rank", rank)
        .where(F.col("rank") == wanted[F.col("key")])
        .select("key", "hash")
        .collect()
    }
    threshold = F.create_map(*[x for name, h in cut.items() for x in (F.lit(name), F.lit(h))])
    in_test = F.xxhash64("path", F.lit(config.seed)) <= threshold[key]
    labelled = images.withColumn(
        "split",
        F.when(key.isNull(), F.lit(None).cast("string"))
        .when(F.coalesce(in_test, F.lit(False)), "Test")
        .otherwise("Training"),
    )
    how = f"holdout (no Test folder): test_fraction={config.test_fraction}, seed={config.seed}"
    return labelled, test, per_key, how


def with_family(images: DataFrame, families: dict[str, str]) -> DataFrame:
    """Every labelled photo's family: its source's (family-labelled folders), else its
    class's (``params.family_of``: the exceptions in ``families``, else the first word)."""
    exceptions = F.create_map(*[F.lit(x) for pair in families.items() for x in pair])
    first_word = F.split(F.col("label"), " ").getItem(0)
    named = exceptions[F.col("label")] if families else F.lit(None).cast("string")
    return images.withColumn("family", F.coalesce(F.col("family"), named, first_word))


def split_images(
    raw_images: DataFrame,
    extra_images: DataFrame | None,
    params: dict[str, Any],
    input_path: str,
    families: dict[str, str],
) -> tuple[DataFrame, dict[str, Any]]:
    """Every labelled photo gets a split: its folder's, or a seeded stratified holdout;
    and a family. The other sources (``extra_images``) are split on their own, per
    source and label.

    With a ``Test`` folder (and photos outside it), photos outside ``Training``/``Test``
    count as Training. Without one, each class holds out ``test_fraction`` of its photos
    (at least one, when it has two or more), chosen by a hash of the path and ``seed``:
    the same photos on every run, and no shuffle of image bytes (ranks use paths only).

    Returns:
        ``labelled_images`` and ``input_summary`` (input path, how the split was made,
        images per split and class, and per source).
    """
    config = IngestionParams.model_validate(params)
    labelled, test, per_class, how = _assign_splits(raw_images, F.col("label"), config)
    if how != "folders":
        logger.info("no Test folder: %s of each class held out for testing (seed %d)",
                    f"{config.test_fraction:.0%}", config.seed)  # fmt: skip
    summary = {
        "input_path": input_path,
        "split": how,
        "classes": len(per_class),
        "images": {
            "Training": {label: n - test[label] for label, n in sorted(per_class.items())},
            "Test": {label: test[label] for label in sorted(per_class)},
        },
        "sources": {},
    }
    if extra_images is not None:
        key = F.concat_ws("/", "source", F.coalesce("label", "family"))
        extra, extra_test, per_key, extra_how = _assign_splits(extra_images, key, config)
        labelled = labelled.unionByName(extra)
        for name, n in sorted(per_key.items()):
            source, label = name.split("/", 1)
            entry = summary["sources"].setdefault(source, {"split": extra_how})
            entry.setdefault("Training", {})[label] = n - extra_test[name]
            entry.setdefault("Test", {})[label] = extra_test[name]
        for source, entry in summary["sources"].items():
            logger.info(
                "source %s: %d Training + %d Test, %d labels (%s)",
                source, sum(entry["Training"].values()), sum(entry["Test"].values()),
                len(entry["Training"]), extra_how.split(" ", 1)[0],
            )  # fmt: skip
    return with_family(labelled, families), summary
