"""Real photos in every shape a collection throws at us: decoded, or rejected with a reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fruits_pipeline.pipelines.featurization.model import decode_image, to_rgb
from tests.conftest import featurize_folder, sample_files


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(sample_files("Training", "Kiwi")[0]) as image:
        return image.convert("RGB")


def decodable_variants(photo: Image.Image) -> dict[str, bytes]:
    """Same photo, other encodings and modes; all named .jpg in the test folder."""
    gray16 = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    rotated = photo.resize((100, 60))
    exif = rotated.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    return {
        "grayscale.jpg": encode(photo.convert("L"), "JPEG"),
        "cmyk.jpg": encode(photo.convert("CMYK"), "JPEG"),
        "rgba_png_named.jpg": encode(photo.convert("RGBA"), "PNG"),
        "palette_gif_named.jpg": encode(photo.convert("P"), "GIF"),
        "webp_named.jpg": encode(photo, "WEBP"),
        "gray16_png_named.jpg": encode(gray16, "PNG"),
        "huge_4000.jpg": encode(photo.resize((4000, 4000)), "JPEG", quality=90),
        "exif_rotated.jpg": encode(rotated, "JPEG", exif=exif),
    }


def junk_variants(photo: Image.Image) -> dict[str, bytes]:
    jpeg = encode(photo, "JPEG")
    return {
        "empty.jpg": b"",
        "text.jpg": b"this is a shopping list, not a photo\n",
        "random.jpeg": np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes(),
        "truncated.JPG": jpeg[: len(jpeg) // 3],
    }


def test_16_bit_is_scaled_not_clipped(photo):
    gray = photo.convert("L")
    gray16 = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
    assert np.array_equal(np.asarray(to_rgb(gray16))[..., 0], np.asarray(gray))


def test_transparent_pixels_become_white(photo):
    rgba = photo.convert("RGBA")
    rgba.putalpha(0)
    assert (np.asarray(to_rgb(rgba)) == 255).all()


def test_exif_orientation_is_applied(photo):
    rotated = photo.resize((100, 60))
    exif = rotated.getexif()
    exif[0x0112] = 6
    with_exif = decode_image(encode(rotated, "JPEG", exif=exif, quality=100), 224)
    turned = decode_image(
        encode(rotated.transpose(Image.Transpose.ROTATE_270), "JPEG", quality=100), 224
    )
    assert np.abs(with_exif.astype(int) - turned.astype(int)).mean() < 3


def test_huge_photo_decodes_like_the_small_one(photo):
    big = decode_image(encode(photo.resize((4000, 4000)), "JPEG", quality=95), 224)
    small = decode_image(encode(photo, "JPEG", quality=95), 224)
    assert big.shape == (224, 224, 3)
    assert np.abs(big.astype(int) - small.astype(int)).mean() < 6


def test_collection_with_junk_reconciles(spark, photo, weights_path, tmp_path):
    folder = tmp_path / "Training" / "Kiwi"
    folder.mkdir(parents=True)
    good, junk = decodable_variants(photo), junk_variants(photo)
    for name, content in {**good, **junk}.items():
        (folder / name).write_bytes(content)
    (folder / "notes.txt").write_text("ignored: not .jpg/.jpeg")

    features, rejected = featurize_folder(tmp_path, {"weights": weights_path})

    featurized = {Path(r.path).name: np.array(r.features) for r in features.collect()}
    assert sorted(featurized) == sorted(good)
    assert sorted(rejected["path"].map(lambda p: Path(p).name)) == sorted(junk)
    assert rejected["reason"].str.contains("replace or remove the file").all()
    assert len(featurized) + len(rejected) == len(good) + len(junk)
    for name, vector in featurized.items():
        assert vector.shape == (1280,) and np.isfinite(vector).all(), name
