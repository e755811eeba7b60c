"""Real photos in every shape a collection throws at us: decoded, or rejected with a reason."""

from __future__ import annotations

import io
import logging
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from fruits_pipeline.pipelines.featurization.model import (
    ACCEPTED_FORMATS,
    MAX_IMAGE_PIXELS,
    ImageRejected,
    decode_image,
    rejection_reason,
    to_rgb,
)
from fruits_pipeline.pipelines.reporting.nodes import plot_sample_grid
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
        "bmp_named.jpg": encode(photo, "BMP"),
        "tiff_named.jpg": encode(photo, "TIFF", compression="tiff_lzw"),
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


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int) -> bytes:
    """A complete, valid 1-bit PNG of side x side black pixels: ~100 KB for 30000, which
    Pillow would decode into side² bytes (900 MB) and the featurizer into 3 x that as RGB."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))  # fmt: skip


def jpeg_declaring(photo: Image.Image, width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) declares width x height: Pillow would allocate
    that whole image before finding that the data is short."""
    jpeg = bytearray(encode(photo, "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)


def untrusted_variants(photo: Image.Image) -> dict[str, tuple[bytes, str]]:
    """Hostile or unexpected files named .jpg, with the reason each must be rejected for."""
    too_big = (
        "pixels, more than the 67,108,864 (8192x8192) accepted for a photo: a decompression "
        "bomb or an oversized scan; replace or remove the file"
    )
    not_decoded = (
        "(by its first bytes), which is not decoded here "
        "(accepted: JPEG, PNG, WEBP, GIF, BMP, TIFF); replace or remove the file"
    )
    return {
        "bomb_png_30000.jpg": (png_bomb(30000), f"900,000,000 {too_big}"),
        "bomb_jpeg_30000.jpg": (jpeg_declaring(photo, 30000, 30000), f"900,000,000 {too_big}"),
        # Below Pillow's own limit (89 MP), above the cap: refused by the project's check.
        "scan_9000x8000.jpg": (
            jpeg_declaring(photo, 9000, 8000),
            f"9000x8000 = 72,000,000 {too_big}",
        ),
        "postscript_named.jpg": (encode(photo, "EPS"), f"a file in EPS format {not_decoded}"),
        "icon_named.jpg": (
            encode(photo.resize((64, 64)), "ICO"),
            f"a file in ICO format {not_decoded}",
        ),
        "pdf_named.jpg": (
            encode(photo, "PDF"),
            "not an image format Pillow can read; replace or remove the file",
        ),
        "damaged_png_header.jpg": (
            encode(photo, "PNG")[:20],
            "a damaged PNG file (its header cannot be read); replace or remove the file",
        ),
    }


def test_accepted_formats_and_cap_are_what_the_project_states():
    assert ACCEPTED_FORMATS == ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
    assert MAX_IMAGE_PIXELS == 8192 * 8192


def test_untrusted_bytes_are_refused_before_decoding(photo):
    variants = untrusted_variants(photo)
    start, peak_kb = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, (content, reason) in variants.items():
        with pytest.raises(ImageRejected) as refused:
            decode_image(content, 224)
        assert rejection_reason(refused.value) == reason, name
    # Nothing was decoded: a single bomb would have taken 900 MB-2.7 GB and seconds.
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kb) / 1024
    assert grown_mb < 100 and time.perf_counter() - start < 2


def test_every_accepted_format_still_decodes(photo):
    reference = decode_image(encode(photo, "PNG"), 224).astype(int)
    for fmt in ACCEPTED_FORMATS:
        options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        image = photo.convert("P") if fmt == "GIF" else photo
        decoded = decode_image(encode(image, fmt, **options), 224)
        assert decoded.shape == (224, 224, 3), fmt
        assert np.abs(decoded.astype(int) - reference).mean() < 8, fmt


def test_sample_grid_shows_a_bomb_as_unreadable(spark, photo, caplog, tmp_path):
    (tmp_path / "Kiwi").mkdir()
    (tmp_path / "Kiwi" / "a.jpg").write_bytes(encode(photo, "JPEG"))
    (tmp_path / "Kiwi" / "b.jpg").write_bytes(png_bomb(30000))
    features = spark.createDataFrame(
        [(f"file:{tmp_path}/Kiwi/{name}", "Kiwi") for name in ("a.jpg", "b.jpg")],
        "path string, label string",
    )
    with caplog.at_level(logging.WARNING):
        figure = plot_sample_grid(features, per_class=2)
    assert isinstance(figure, Figure)
    (warning,) = [r.getMessage() for r in caplog.records if "sample grid" in r.getMessage()]
    assert "Kiwi/b.jpg" in warning and "900,000,000 pixels" in warning
    drawn = [len(ax.get_images()) for ax in figure.axes]
    assert drawn == [1, 0]  # the good photo is drawn, the bomb's cell says "unreadable"


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


def test_untrusted_files_are_quarantined_and_the_run_goes_on(spark, photo, weights_path, tmp_path):
    folder = tmp_path / "Training" / "Kiwi"
    folder.mkdir(parents=True)
    good = {"photo.jpg": encode(photo, "JPEG"), "png_named.jpg": encode(photo, "PNG")}
    untrusted = untrusted_variants(photo)
    for name, content in good.items():
        (folder / name).write_bytes(content)
    for name, (content, _) in untrusted.items():
        (folder / name).write_bytes(content)

    features, rejected = featurize_folder(tmp_path, {"weights": weights_path})

    assert sorted(Path(r.path).name for r in features.collect()) == sorted(good)
    reasons = dict(
        zip(rejected["path"].map(lambda p: Path(p).name), rejected["reason"], strict=True)
    )
    assert reasons == {name: reason for name, (_, reason) in untrusted.items()}
