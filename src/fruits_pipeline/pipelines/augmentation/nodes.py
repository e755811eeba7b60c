"""Augmentation: composites of the Training photos, planned on the driver, made on Spark.

``plan_composites`` decides, from metadata alone, which composites a run has: per class
and kind the same number (balanced), each named by a path that encodes its kind, its
settings and its photo, so that a rerun plans the same ones and an incremental run
reuses their stored features. ``make_composites`` makes the missing ones in Spark tasks
(``composite.make_composite``) and hands their JPEG bytes to the featurizer node
(``featurization.nodes.featurize_images``, the same function and featurizer as the
photos).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fruits_pipeline.backgrounds import background_role
from fruits_pipeline.errors import UserError
from fruits_pipeline.params import AugmentationParams, FeaturizationParams
from fruits_pipeline.pipelines.featurization.featurizer import Featurizer
from fruits_pipeline.pipelines.featurization.nodes import (
    COMPOSITE_PREFIX,
    FEATURE_COLUMNS,
    FEATURES_DDL,
    KEY_COLUMNS,
    listed_files,
)

from .composite import Look, make_composite

logger = logging.getLogger(__name__)

KINDS = ("procedural", "photos")
MAX_FRUITS = 3  # the labelled fruit and at most 2 more (AugmentationParams.extra_fruits)
PLAN_DDL = (
    "path string, label string, split string, size_bytes long, modified timestamp, "
    "source string, family string, kind string, background string, "
    + ", ".join(f"origin_{i} string" for i in range(MAX_FRUITS))
)
PLAN_DDL_COLUMNS = [column.strip().split(" ")[0] for column in PLAN_DDL.split(",")]


def look_of(config: AugmentationParams, image_size: int) -> Look:
    """The composite settings of ``config`` at the featurizer's input size."""
    fields = {f.name for f in dataclasses.fields(Look)} - {"size"}
    values = {name: getattr(config, name) for name in fields}
    return Look(size=image_size, **{**values, "scale": tuple(values["scale"])})


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _ranked(paths: list[str], seed: int) -> list[str]:
    """Paths in a seeded order that depends on nothing else (not on listing order)."""
    return sorted(paths, key=lambda p: (_digest(seed, p), p))


def plan_composites(
    labelled_images: DataFrame,
    background_photos: DataFrame | None,
    params: dict[str, Any],
    featurization: dict[str, Any],
) -> tuple[DataFrame, dict[str, Any]]:
    """Node: which composites this run has (metadata only, no image is read).

    Per kind (``procedural``, ``photos``) every class of the ``sources``' Training photos
    gets ``round(per_image x mean photos per class)`` composites: the classes are
    balanced. Composite n of a class is built on its photo n (mod its count, in a
    seeded order), with up to ``extra_fruits`` more photos of the same class; a
    ``photos`` composite takes a background photo from the augmentation part of the
    folder (``backgrounds.background_role``), never the "unknown" calibration or check
    parts. Test photos are never used. Returns the plan and the summary for the bundle.
    """
    config = AugmentationParams.model_validate(params)
    spark = labelled_images.sparkSession
    empty = spark.createDataFrame([], PLAN_DDL)
    counts = {"procedural": config.procedural, "photos": config.photos}
    if not config.enabled or not any(counts.values()):
        return empty, {"enabled": False}
    look = look_of(config, FeaturizationParams.model_validate(featurization).image_size)
    photos = (
        labelled_images.where(
            (F.col("split") == "Training")
            & F.col("label").isNotNull()
            & F.col("source").isin(config.sources)
        )
        .select("path", "label", "family", "source", "size_bytes", "modified")
        .toPandas()
    )
    if photos.empty:
        logger.info("augmentation: no Training photo of sources %s; no composite", config.sources)
        return empty, {"enabled": True, "composites": 0}
    backgrounds: list[str] = []
    if counts["photos"]:
        listed = [] if background_photos is None else listed_files(background_photos)
        backgrounds = sorted(p for p in listed if background_role(p) == "augmentation")
        if not backgrounds:
            raise UserError(
                f"augmentation.photos={config.photos}: no background photo found (folder "
                "--params backgrounds_path=..., default data/01_raw/backgrounds, copied by "
                "make setup); give a folder of photos without fruit, or set "
                "augmentation.photos: 0."
            )
    settings = _digest(dataclasses.asdict(look), config.seed, config.sources)[:12]
    # Photo composites also depend on which backgrounds there are.
    tags = {"procedural": settings, "photos": _digest(settings, backgrounds)[:12]}
    per_class = {label: group for label, group in photos.groupby("label", sort=True)}
    wanted = {kind: round(counts[kind] * len(photos) / len(per_class)) for kind in KINDS}
    chance = config.extra_probability
    rows = []
    for kind in KINDS:
        if not counts[kind]:
            continue
        for label, group in per_class.items():
            by_path = group.set_index("path")
            ranked = _ranked(list(by_path.index), config.seed)
            for n in range(wanted[kind]):
                main = ranked[n % len(ranked)]
                path = f"{COMPOSITE_PREFIX}{kind}-{tags[kind]}-{n}/{main}"
                chooser = _digest(config.seed, path)  # 64 hex digits: the plan's dice
                others = [p for p in ranked if p != main]
                extras = [
                    others[int(chooser[8 * i : 8 * i + 8], 16) % len(others)]
                    for i in range(config.extra_fruits)
                    if others and int(chooser[40 + 4 * i : 44 + 4 * i], 16) / 0xFFFF < chance
                ]
                origins = [main, *extras] + [None] * (MAX_FRUITS - 1 - len(extras))
                background = (
                    backgrounds[int(chooser[56:64], 16) % len(backgrounds)]
                    if kind == "photos"
                    else None
                )
                source = by_path.loc[main]
                rows.append(
                    (
                        path, label, "Training", int(source.size_bytes), source.modified,
                        source.source, source.family, kind, background, *origins,
                    )
                )  # fmt: skip
    plan = spark.createDataFrame(pd.DataFrame(rows, columns=PLAN_DDL_COLUMNS), PLAN_DDL)
    summary = {
        "enabled": True,
        "sources": config.sources,
        "composites": len(rows),
        "per_class": {kind: wanted[kind] for kind in KINDS if counts[kind]},
        "classes": len(per_class),
        "background_photos": len(backgrounds),
        "settings": {k: v for k, v in config.model_dump().items() if k != "enabled"},
    }
    logger.info(
        "augmentation: %d composites (%s per class, %d classes; %d background photos)",
        len(rows), summary["per_class"], len(per_class), len(backgrounds),
    )  # fmt: skip
    return plan, summary


def make_composites(
    composite_plan: DataFrame,
    labelled_images: DataFrame,
    background_photos: DataFrame | None,
    stored_image_features: DataFrame | None,
    featurizer: Featurizer,
    incremental: bool,
    params: dict[str, Any],
) -> tuple[DataFrame, list[str], DataFrame]:
    """Node: the planned composites to featurize, as rows with JPEG ``content``, and the
    stored features of the others (``incremental``: same path, i.e. same photo, kind and
    settings, same photo size and time, and the current featurizer).

    The photos' bytes reach the Spark tasks by joins (no image passes the driver).
    """
    config = AugmentationParams.model_validate(params)
    spark = composite_plan.sparkSession
    reused = spark.createDataFrame([], FEATURES_DDL)
    plan = composite_plan
    stored = stored_image_features
    if incremental and stored is not None and set(FEATURE_COLUMNS) <= set(stored.columns):
        reused = (
            stored.where(
                F.col("path").startswith(COMPOSITE_PREFIX)
                & (F.col("featurizer") == featurizer.fingerprint)
            )
            .select("path", "size_bytes", "modified", "featurizer", "features")
            .join(composite_plan, KEY_COLUMNS, "inner")
            .select(*FEATURE_COLUMNS)
            .localCheckpoint(eager=True)
        )
        plan = composite_plan.join(reused.select("path"), "path", "left_anti")
    paths = [row.path for row in plan.select("path").toLocalIterator()]
    # Said only when composites are asked for: a run without them has nothing to report.
    (logger.info if config.enabled else logger.debug)(
        "augmentation: %d composites reused, %d to make", reused.count(), len(paths)
    )
    if not paths:
        return plan.withColumn("content", F.lit(None).cast("binary")), [], reused
    photos = labelled_images.select(F.col("path").alias("origin"), "content")
    for i in range(MAX_FRUITS):
        plan = plan.join(
            photos.withColumnsRenamed({"origin": f"origin_{i}", "content": f"content_{i}"}),
            f"origin_{i}",
            "left",
        )
    if background_photos is not None:
        scenes = background_photos.select(
            F.col("path").alias("background"), F.col("content").alias("background_content")
        )
        plan = plan.join(F.broadcast(scenes), "background", "left")
    else:
        plan = plan.withColumn("background_content", F.lit(None).cast("binary"))
    look = look_of(config, featurizer.image_size)
    seed = config.seed
    columns = ["path", "label", "split", "size_bytes", "modified", "source", "family"]

    def composites(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            contents = [
                make_composite(
                    row.path,
                    seed,
                    [c for c in (row.content_0, row.content_1, row.content_2) if c is not None],
                    row.background_content,
                    look,
                )
                for row in batch.itertuples(index=False)
            ]
            yield batch[columns].assign(content=contents)

    schema = (
        "path string, label string, split string, size_bytes long, modified timestamp, "
        "source string, family string, content binary"
    )
    made = plan.select(
        *columns, "content_0", "content_1", "content_2", "background_content"
    ).mapInPandas(composites, schema)
    return made, paths, reused


def merge_composite_features(
    reused_composite_features: DataFrame, new_composite_features: DataFrame
) -> DataFrame:
    """composite_features: the reused and the newly featurized composites."""
    return reused_composite_features.unionByName(new_composite_features)
