"""One schema for every parameter, checked once when a run starts (``hooks.ParameterHooks``).

Each violation becomes one line naming the parameter, the value given and what is
allowed; all of them are reported together, before any Spark work.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
)

from fruits_pipeline.errors import UserError

# MobileNetV2 widths (Keras ships ImageNet weights for these).
ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
RESIZE_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
# tflite: float32, equal to Keras; tflite_fp16 / tflite_int8: opt-in post-training
# quantization (int8 calibrated on `calibration_images` Training photos of the run).
BACKENDS = ("tflite", "tflite_fp16", "tflite_int8", "keras")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeaturizationParams(_Section):
    # The weights file is the ``featurizer_weights`` dataset; ``--params
    # featurization.weights=...`` points it elsewhere (conf/base/catalog.yml).
    weights: str | None = None
    alpha: float = 1.0
    image_size: Annotated[int, Field(strict=True, ge=32)] = 224
    backend: Literal[BACKENDS] = "tflite"
    batch_size: Annotated[int, Field(strict=True, ge=1)] = 1
    resize_filter: Literal[RESIZE_FILTERS] = "bilinear"
    images_per_partition: Annotated[int, Field(strict=True, ge=1)] = 512
    progress_interval_s: Annotated[float, Field(gt=0)] = 15.0
    model_cache_dir: str | None = "~/.cache/fruits_pipeline"
    # tflite_int8: Training photos (picked by a seeded hash of their paths) that set the
    # int8 ranges; the other backends ignore both.
    calibration_images: Annotated[int, Field(strict=True, ge=1, le=5000)] = 128
    calibration_seed: Annotated[int, Field(strict=True)] = 42

    @field_validator("alpha", mode="before")
    @classmethod
    def _alpha_is_a_width(cls, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value not in ALPHAS:
            raise ValueError(f"must be a MobileNetV2 width, one of {', '.join(map(str, ALPHAS))}")
        return float(value)


class IngestionParams(_Section):
    # Without a Test split: the share of each class held out for testing, and its seed.
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: Annotated[int, Field(strict=True)] = 42


class ReductionParams(_Section):
    standardize: StrictBool = False
    k: Annotated[int, Field(strict=True, ge=1)] | None = None
    variance_threshold: Annotated[float, Field(gt=0, le=1)] = 0.90


class ClassificationParams(_Section):
    max_iter: Annotated[int, Field(strict=True, ge=1)] = 200
    reg_param: Annotated[float, Field(ge=0)] = 0.01
    elastic_net_param: Annotated[float, Field(ge=0, le=1)] = 0.0
    # Weight of one Training composite against one photo, in both heads.
    composite_weight: Annotated[float, Field(gt=0, le=1)] = 0.5


class UnknownParams(_Section):
    # Share of the Fruits-360 Test images that must still get an answer; the thresholds
    # then flag as many no-fruit calibration photos as they can (engine.unknown.calibrate).
    accept: Annotated[float, Field(gt=0.5, le=1)] = 0.98


class AugmentationParams(_Section):
    # Composites of the Training photos of ``sources`` (pipelines/augmentation): each
    # class gets round(per_image x mean Training photos per class) composites per kind,
    # so the classes are balanced. 0 turns a kind off.
    enabled: StrictBool = False
    sources: list[str] = ["fruits360"]
    procedural: Annotated[float, Field(ge=0, le=10)] = 1.0
    photos: Annotated[float, Field(ge=0, le=10)] = 1.0
    seed: Annotated[int, Field(strict=True)] = 0
    scale: tuple[Annotated[float, Field(gt=0, le=1)], Annotated[float, Field(gt=0, le=1)]] = (
        0.35,
        0.85,
    )
    max_rotation: Annotated[float, Field(ge=0, le=180)] = 180.0
    extra_fruits: Annotated[int, Field(strict=True, ge=0, le=2)] = 2
    extra_probability: Annotated[float, Field(ge=0, le=1)] = 0.3
    brightness: Annotated[float, Field(ge=0, lt=1)] = 0.3
    contrast: Annotated[float, Field(ge=0, lt=1)] = 0.3
    saturation: Annotated[float, Field(ge=0, lt=1)] = 0.3
    colour_cast: Annotated[float, Field(ge=0, lt=1)] = 0.08
    blur_probability: Annotated[float, Field(ge=0, le=1)] = 0.3
    max_blur: Annotated[float, Field(ge=0, le=10)] = 1.5
    white_threshold: Annotated[int, Field(strict=True, ge=128, le=255)] = 230

    @field_validator("scale")
    @classmethod
    def _scale_is_a_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError("must be [smallest, largest] with smallest <= largest")
        return value


class Parameters(BaseModel):
    """Everything under conf/<env>/parameters*.yml plus the runtime ``--params``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    featurization: FeaturizationParams = FeaturizationParams()
    ingestion: IngestionParams = IngestionParams()
    reduction: ReductionParams = ReductionParams()
    classification: ClassificationParams = ClassificationParams()
    # Class -> family exceptions to the first-word rule (conf/base/parameters_families.yml).
    families: dict[str, str] = {}
    unknown: UnknownParams = UnknownParams()
    augmentation: AugmentationParams = AugmentationParams()
    incremental: StrictBool = False
    # Versions of every versioned output kept after a committed run (older ones pruned).
    keep_versions: Annotated[int, Field(strict=True, ge=1)] = 5
    # The model bundle that prediction and reports read: null = the newest complete one.
    model_version: str | None = None
    # Runtime-only: folders read by the image datasets (conf/base/catalog.yml).
    input_path: str | None = None
    predict_path: str | None = None
    nofruit_path: str | None = None
    backgrounds_path: str | None = None
    # The class is the label_depth-th folder below the input root (below the split folder
    # when the first folder is Training/Test): raw_images in conf/base/catalog.yml.
    label_depth: Annotated[int, Field(strict=True, ge=1)] | None = None


def family_of(label: str, families: dict[str, str]) -> str:
    """A class's family: its entry in ``families``, else the first word of its name."""
    return families.get(label, label.split(" ", 1)[0])


def _describe(error: dict[str, Any]) -> str:
    name = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"parameter {name} is unknown; check its spelling in conf/ or --params"
    return f"parameter {name}={error['input']!r}: {message}"


def validate_parameters(params: dict[str, Any]) -> Parameters:
    """The parameters as a typed object, or one UserError listing every violation."""
    try:
        return Parameters.model_validate(params)
    except ValidationError as error:
        lines = [_describe(e) for e in error.errors(include_url=False)]
        raise UserError(
            f"{len(lines)} invalid parameter(s):\n  "
            + "\n  ".join(lines)
            + "\nFix them in conf/<env>/parameters*.yml or in --params."
        ) from None
