"""One composite image: studio fruits cut from their white background, pasted on a scene.

Pure numpy + Pillow (no Spark), so the Spark task, the tests and a person all get the
same pixels. Every random choice comes from a generator seeded by a hash of the
composite's path and the seed: a rerun makes the same bytes. The photos are opened with
the featurizer's own decoder (``featurization.model.open_image``: accepted formats, pixel
limit), and the composite goes to the featurizer as a JPEG (quality 92, as a camera writes:
small and quick to encode; PNG took 5x longer).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from fruits_pipeline.pipelines.featurization.model import open_image, to_rgb


@dataclass(frozen=True)
class Look:
    """How composites vary (``params.AugmentationParams``; 0 turns a variation off)."""

    size: int = 224  # side of the composite: the featurizer's input size
    scale: tuple[float, float] = (0.35, 0.85)  # fruit's longer side / composite side
    max_rotation: float = 180.0  # degrees, either way
    extra_fruits: int = 2  # at most this many more fruits of the same class
    extra_probability: float = 0.3  # chance of each extra fruit
    brightness: float = 0.3  # fruit and light: factor in [1 - b, 1 + b]
    contrast: float = 0.3
    saturation: float = 0.3
    colour_cast: float = 0.08  # light colour: per-channel gain in [1 - c, 1 + c]
    blur_probability: float = 0.3
    max_blur: float = 1.5  # Gaussian radius in pixels
    white_threshold: int = 230  # background: every channel at least this, touching the border


def composite_rng(path: str, seed: int) -> np.random.Generator:
    """The generator of one composite: a hash of its path and the seed (same on every machine)."""
    digest = hashlib.sha256(f"{seed}\0{path}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def decode_rgb(content: bytes) -> np.ndarray:
    """Photo bytes -> uint8 RGB at full size, through the featurizer's safe decoder."""
    with open_image(content) as image:
        return np.asarray(to_rgb(ImageOps.exif_transpose(image)), dtype=np.uint8)


def fruit_mask(rgb: np.ndarray, white_threshold: int) -> np.ndarray:
    """True on the fruit: every pixel but the near-white ones connected to the border.

    A white highlight inside the fruit is not connected to the border, so it stays fruit.
    The white region grows from the border through near-white pixels (4-neighbours).
    """
    white = (rgb >= white_threshold).all(axis=2)
    background = np.zeros_like(white)
    background[0, :], background[-1, :] = white[0, :], white[-1, :]
    background[:, 0], background[:, -1] = white[:, 0], white[:, -1]
    while True:
        grown = background.copy()
        grown[1:, :] |= background[:-1, :]
        grown[:-1, :] |= background[1:, :]
        grown[:, 1:] |= background[:, :-1]
        grown[:, :-1] |= background[:, 1:]
        grown &= white
        if (grown == background).all():
            return ~background
        background = grown


def cut_out(rgb: np.ndarray, white_threshold: int) -> np.ndarray:
    """The fruit's mask without its outer pixel ring: JPEG leaves a light fringe there
    (4-neighbour erosion of ``fruit_mask``)."""
    mask = fruit_mask(rgb, white_threshold)
    inner = mask.copy()
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def procedural_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A scene with no photo: smooth colour noise over a linear gradient, with grain."""
    cells = int(rng.integers(2, 12))
    coarse = rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
    smooth = np.asarray(
        Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32
    )
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.float32(np.cos(angle)) * ramp[None, :] + np.float32(np.sin(angle)) * ramp[:, None]
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    start = rng.uniform(0, 255, 3).astype(np.float32)
    end = rng.uniform(0, 255, 3).astype(np.float32)
    mix = np.float32(rng.uniform(0.2, 0.8))
    scene = mix * smooth + (1 - mix) * (start + t[..., None] * (end - start))
    grain = rng.standard_normal((size, size, 1), dtype=np.float32)  # grey grain
    scene += np.float32(rng.uniform(0, 12)) * grain
    return np.clip(scene, 0, 255).astype(np.uint8)


def photo_background(photo: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random square crop (60-100% of the shorter side) of a photo, maybe mirrored."""
    height, width = photo.shape[:2]
    side = max(1, int(min(height, width) * rng.uniform(0.6, 1.0)))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = Image.fromarray(photo[top : top + side, left : left + side])
    if rng.random() < 0.5:
        crop = ImageOps.mirror(crop)
    if crop.size != (size, size):
        crop = crop.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(crop, dtype=np.uint8)


def _jitter(rgb: np.ndarray, rng: np.random.Generator, look: Look) -> np.ndarray:
    """Brightness, contrast and saturation of one fruit, each within the look's range."""
    if not (look.brightness or look.contrast or look.saturation):
        return rgb
    pixels = rgb.astype(np.float32)
    pixels *= rng.uniform(1 - look.brightness, 1 + look.brightness)
    mean = pixels.mean()
    pixels = mean + (pixels - mean) * rng.uniform(1 - look.contrast, 1 + look.contrast)
    grey = pixels.mean(axis=2, keepdims=True)
    pixels = grey + (pixels - grey) * rng.uniform(1 - look.saturation, 1 + look.saturation)
    return np.clip(pixels, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Placement:
    """Where a fruit went: its box in the composite (rows, columns, may cross the edge)."""

    top: int
    left: int
    height: int
    width: int


def place_fruit(
    canvas: np.ndarray, fruit: np.ndarray, rng: np.random.Generator, look: Look, scale: float
) -> Placement:
    """Paste ``fruit`` (its white background cut away) onto ``canvas`` in place.

    The fruit is jittered, rotated and resized so that its longer side is ``scale`` of
    the canvas; its centre lands anywhere that keeps at least half of it inside.
    """
    mask = cut_out(fruit, look.white_threshold)
    rgba = np.dstack([_jitter(fruit, rng, look), np.where(mask, 255, 0).astype(np.uint8)])
    image = Image.fromarray(rgba, "RGBA")
    if look.max_rotation:
        angle = float(rng.uniform(-look.max_rotation, look.max_rotation))
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    longer = round(scale * look.size)
    factor = longer / max(image.size)
    target = (max(1, round(image.size[0] * factor)), max(1, round(image.size[1] * factor)))
    if target != image.size:
        image = image.resize(target, Image.Resampling.BILINEAR)
    width, height = image.size
    size = look.size
    top = int(rng.integers(-height // 4, size - height + height // 4 + 1))
    left = int(rng.integers(-width // 4, size - width + width // 4 + 1))
    pasted = np.asarray(image, dtype=np.float32)
    # The part of the fruit's box inside the canvas.
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + height, size), min(left + width, size)
    if r1 > r0 and c1 > c0:
        part = pasted[r0 - top : r1 - top, c0 - left : c1 - left]
        alpha = part[..., 3:] / 255.0
        region = canvas[r0:r1, c0:c1].astype(np.float32)
        blended = alpha * part[..., :3] + (1 - alpha) * region
        canvas[r0:r1, c0:c1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return Placement(top, left, height, width)


def _light(canvas: np.ndarray, rng: np.random.Generator, look: Look) -> np.ndarray:
    """The scene's light: overall brightness and a colour cast, then maybe a blur."""
    pixels = canvas.astype(np.float32)
    if look.brightness:
        pixels *= rng.uniform(1 - look.brightness / 2, 1 + look.brightness / 2)
    if look.colour_cast:
        pixels *= rng.uniform(1 - look.colour_cast, 1 + look.colour_cast, 3)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if look.max_blur and rng.random() < look.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, look.max_blur)))
    return np.asarray(image, dtype=np.uint8)


def compose(
    fruits: list[np.ndarray], background: np.ndarray, rng: np.random.Generator, look: Look
) -> tuple[np.ndarray, list[Placement]]:
    """The composite: ``fruits[0]`` (the labelled one) pasted last, on top; the others
    (same class) smaller behind it. Returns the pixels and each fruit's placement."""
    canvas = background.copy()
    main_scale = float(rng.uniform(*look.scale))
    scales = [main_scale * float(rng.uniform(0.5, 0.9)) for _ in fruits[1:]]
    placements = [
        place_fruit(canvas, fruit, rng, look, scale)
        for fruit, scale in zip(fruits[1:], scales, strict=True)
    ]
    placements.insert(0, place_fruit(canvas, fruits[0], rng, look, main_scale))
    return _light(canvas, rng, look), placements


def make_composite(
    path: str,
    seed: int,
    fruit_contents: list[bytes],
    background_content: bytes | None,
    look: Look,
) -> bytes:
    """JPEG bytes of the composite named ``path``: on the photo ``background_content``, or
    on a procedural scene when it is None. Same path, seed and inputs: same bytes."""
    rng = composite_rng(path, seed)
    if background_content is None:
        background = procedural_background(rng, look.size)
    else:
        background = photo_background(decode_rgb(background_content), rng, look.size)
    pixels, _ = compose([decode_rgb(c) for c in fruit_contents], background, rng, look)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=92)
    return out.getvalue()
