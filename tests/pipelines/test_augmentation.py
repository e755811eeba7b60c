"""Composites of real sample photos: the fruit kept, the white background replaced, the
same bytes on every run, Training rows only and the classes balanced."""

from __future__ import annotations

import io
import shutil
from collections import Counter, deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fruits_pipeline.backgrounds import background_role
from fruits_pipeline.datasets import ImageFolderDataset
from fruits_pipeline.pipelines.augmentation.composite import (
    Look,
    compose,
    composite_rng,
    decode_rgb,
    make_composite,
    procedural_background,
)
from fruits_pipeline.pipelines.augmentation.nodes import plan_composites
from fruits_pipeline.pipelines.ingestion.nodes import split_images
from tests.conftest import SHARED, copy_subset, load_images, sample_files, user_error

BACKGROUNDS = SHARED / "data" / "backgrounds" / "images"
# Every variation off: the fruit is pasted as it is, at its own size.
PLAIN = Look(
    scale=(100 / 224, 100 / 224), max_rotation=0, extra_fruits=0, brightness=0, contrast=0,
    saturation=0, colour_cast=0, blur_probability=0, max_blur=0,
)  # fmt: skip


def fruit_pixels_by_flood_fill(rgb: np.ndarray, threshold: int) -> np.ndarray:
    """The fruit, computed apart: a breadth-first fill of the near-white pixels from the
    border is the background; the fruit is the rest minus its outer ring (4-neighbours)."""
    height, width = rgb.shape[:2]
    white = (rgb >= threshold).all(axis=2)
    background = np.zeros((height, width), bool)
    queue = deque(
        (r, c) for r in range(height) for c in range(width)
        if (r in (0, height - 1) or c in (0, width - 1)) and white[r, c]
    )  # fmt: skip
    for r, c in queue:
        background[r, c] = True
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < height and 0 <= nc < width and white[nr, nc] and not background[nr, nc]:
                background[nr, nc] = True
                queue.append((nr, nc))
    fruit = ~background
    inner = np.zeros_like(fruit)
    for r in range(1, height - 1):
        for c in range(1, width - 1):
            inner[r, c] = (
                fruit[r, c]
                and fruit[r - 1, c]
                and fruit[r + 1, c]
                and (fruit[r, c - 1] and fruit[r, c + 1])
            )
    return inner


@pytest.mark.parametrize("label", ["Kiwi", "Apple Red 1", "Lemon"])
def test_composite_keeps_the_fruit_and_replaces_the_white_background(label):
    photo = decode_rgb(sample_files("Training", label)[0].read_bytes())
    assert photo.shape == (100, 100, 3)
    rng = composite_rng("test", 1)
    scene = procedural_background(rng, PLAIN.size)
    pixels, [placed] = compose([photo], scene, rng, PLAIN)

    fruit = fruit_pixels_by_flood_fill(photo, PLAIN.white_threshold)
    assert 0.2 < fruit.mean() < 0.95, "the sample photo is a fruit on white"
    expected = scene.copy()
    box = expected[
        max(placed.top, 0) : placed.top + placed.height,
        max(placed.left, 0) : placed.left + placed.width,
    ]
    inside = (
        slice(max(-placed.top, 0), max(-placed.top, 0) + box.shape[0]),
        slice(max(-placed.left, 0), max(-placed.left, 0) + box.shape[1]),
    )
    box[...] = np.where(fruit[inside][..., None], photo[inside], box)
    assert (placed.height, placed.width) == (100, 100)
    np.testing.assert_array_equal(pixels, expected)
    # The white studio background is gone: there the composite shows the scene.
    studio = (photo[inside] >= PLAIN.white_threshold).all(axis=2) & ~fruit[inside]
    assert studio.mean() > 0.05
    shown = pixels[
        max(placed.top, 0) : placed.top + placed.height,
        max(placed.left, 0) : placed.left + placed.width,
    ]
    region = scene[
        max(placed.top, 0) : placed.top + placed.height,
        max(placed.left, 0) : placed.left + placed.width,
    ]
    np.testing.assert_array_equal(shown[studio], region[studio])
    assert (shown[studio] >= PLAIN.white_threshold).all(axis=1).mean() < 0.5


def test_a_composite_is_the_same_bytes_for_the_same_path_and_seed():
    fruits = [p.read_bytes() for p in sample_files("Training", "Kiwi")[:3]]
    scene = sorted(BACKGROUNDS.glob("*.jpg"))[0].read_bytes()
    look = Look(extra_probability=1.0)
    first = make_composite("composite:/photos-x-0/a.jpg", 7, fruits, scene, look)
    assert first == make_composite("composite:/photos-x-0/a.jpg", 7, fruits, scene, look)
    assert first != make_composite("composite:/photos-x-0/a.jpg", 8, fruits, scene, look)
    assert first != make_composite("composite:/photos-x-1/a.jpg", 7, fruits, scene, look)
    procedural = make_composite("composite:/procedural-x-0/a.jpg", 7, fruits[:1], None, look)
    assert procedural == make_composite(
        "composite:/procedural-x-0/a.jpg", 7, fruits[:1], None, look
    )
    with Image.open(io.BytesIO(first)) as image:
        assert image.size == (224, 224) and image.format == "JPEG"


@pytest.fixture(scope="module")
def uneven_input(tmp_path_factory) -> tuple[Path, Path]:
    """3 classes with 5, 3 and 2 Training photos (+ 2 Test each), and 40 background photos."""
    root = tmp_path_factory.mktemp("uneven")
    photos = copy_subset(root / "photos", ["Kiwi", "Lemon", "Cherry"], {"Test": 2})
    for label, count in {"Kiwi": 5, "Lemon": 3, "Cherry": 2}.items():
        copy_subset(root / "photos", [label], {"Training": count})
    scenes = root / "scenes"
    scenes.mkdir()
    for path in sorted(BACKGROUNDS.glob("*.jpg"))[:40]:
        shutil.copy(path, scenes / path.name)
    return photos, scenes


def _plan(spark, folder: Path, scenes: Path | None, **params):
    raw = ImageFolderDataset(filepath=str(folder), source="fruits360").load()
    labelled, _ = split_images(raw, None, {}, str(folder), {})
    backgrounds = None if scenes is None else load_images(scenes, label_depth=None)
    plan, summary = plan_composites(
        labelled, backgrounds, {"enabled": True, **params}, {"image_size": 224}
    )
    return plan.toPandas(), summary, labelled


def test_composites_are_training_rows_balanced_per_class(spark, uneven_input):
    photos, scenes = uneven_input
    plan, summary, labelled = _plan(spark, photos, scenes, extra_probability=0.5)
    # 10 Training photos of 3 classes: round(1.0 * 10 / 3) = 3 per class and kind.
    assert summary["per_class"] == {"procedural": 3, "photos": 3}
    assert Counter(zip(plan["label"], plan["kind"], strict=True)) == {
        (label, kind): 3
        for label in ("Kiwi", "Lemon", "Cherry")
        for kind in ("procedural", "photos")
    }
    assert set(plan["split"]) == {"Training"}
    rows = labelled.select("path", "label", "split").toPandas().set_index("path")
    for column in ("origin_0", "origin_1", "origin_2"):
        used = plan[column].dropna()
        assert (rows.loc[used, "split"] == "Training").all(), "a Test photo in a composite"
        assert (rows.loc[used, "label"].to_numpy() == plan.loc[used.index, "label"]).all()
    assert plan["origin_1"].notna().any(), "several fruits in some composites"
    # Every photo of a class is used before any is used twice (Cherry: 2 photos, 3 composites).
    cherry = plan[(plan["label"] == "Cherry") & (plan["kind"] == "photos")]["origin_0"]
    assert sorted(Counter(cherry).values()) == [1, 2]
    # Only the augmentation part of the backgrounds: never the "unknown" calibration/check.
    on_photos = plan[plan["kind"] == "photos"]
    assert on_photos["background"].notna().all()
    assert {background_role(p) for p in on_photos["background"]} == {"augmentation"}
    assert plan[plan["kind"] == "procedural"]["background"].isna().all()
    again, _, _ = _plan(spark, photos, scenes, extra_probability=0.5)
    assert again.equals(plan), "the plan is the same on every run"
    other_seed, _, _ = _plan(spark, photos, scenes, extra_probability=0.5, seed=3)
    assert set(other_seed["path"]).isdisjoint(plan["path"])


def test_photo_composites_without_backgrounds_are_one_line(spark, uneven_input):
    photos, _ = uneven_input
    message = user_error(_plan, spark, photos, None)
    assert "augmentation.photos=1.0: no background photo found" in message
    assert "augmentation.photos: 0" in message
    plan, summary, _ = _plan(spark, photos, None, photos=0)
    assert set(plan["kind"]) == {"procedural"} and summary["background_photos"] == 0
