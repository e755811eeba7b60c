"""Shared fixtures: one local SparkSession, real images and weights from ../shared."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession

from fruits_pipeline.datasets import ImageFolderDataset, WeightsFileDataset
from fruits_pipeline.errors import find_user_error
from fruits_pipeline.pipelines.featurization.featurizer import build_featurizer
from fruits_pipeline.pipelines.featurization.nodes import featurize_images, listed_files

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FRUITS_SHARED", REPO.parent / "shared"))
SAMPLE = SHARED / "data" / "fruits360_sample"
WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_no_top.imagenet_from_slim_ckpt.weights.h5"
# Class names with spaces on purpose.
SMALL_CLASSES = ["Apple Red 1", "Avocado ripe", "Kiwi"]


def sample_files(split: str, label: str) -> list[Path]:
    """The sample's files of one class and split, sorted."""
    files = sorted((SAMPLE / split / label).glob("*.jpg"))
    assert files, f"no images in {SAMPLE / split / label}: is ../shared beside the repo?"
    return files


def copy_subset(dest: Path, classes: list[str], per_split: dict[str, int]) -> Path:
    """Copy ``per_split[split]`` real images per class into dest/<split>/<class>/."""
    for split, count in per_split.items():
        for label in classes:
            folder = dest / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for path in sample_files(split, label)[:count]:
                shutil.copy(path, folder / path.name)
    return dest


@pytest.fixture(scope="session")
def weights_path() -> str:
    assert WEIGHTS.is_file(), f"missing {WEIGHTS}: is ../shared beside the repo?"
    return str(WEIGHTS)


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """A local[2] session with the project's own base Spark settings."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = yaml.safe_load((REPO / "conf" / "base" / "spark.yml").read_text())
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("fruits_pipeline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
    )
    for key, value in settings.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> Path:
    """3 classes x (2 Training + 1 Test) real images."""
    return copy_subset(
        tmp_path_factory.mktemp("small_sample"), SMALL_CLASSES, {"Training": 2, "Test": 1}
    )


def user_error(function, *args, **kwargs) -> str:
    """The UserError message ``function`` raises (Kedro may wrap it in a DatasetError)."""
    try:
        function(*args, **kwargs)
    except Exception as error:
        found = find_user_error(error)
        assert found is not None, f"not a UserError: {error!r}"
        return str(found)
    raise AssertionError(f"{function.__name__} raised nothing")


def load_images(folder: Path, label_depth: int | None = 1):
    """``raw_images`` (an ImageFolderDataset) over ``folder`` (needs the spark fixture)."""
    return ImageFolderDataset(filepath=str(folder), label_depth=label_depth).load()


def make_featurizer(weights: str, **params):
    """The ``build_featurizer`` node on a weights file, as a run builds it."""
    return build_featurizer(WeightsFileDataset(filepath=weights).load(), params)


def featurize(images, featurizer, **params):
    """``featurize_images`` on every file of ``images`` (the non-incremental path)."""
    return featurize_images(images, listed_files(images), featurizer, params)


def featurize_folder(folder: Path, params: dict, label_depth: int | None = 1):
    """Load ``folder`` as raw_images and featurize it as a run does with these parameters."""
    params = dict(params)
    featurizer = make_featurizer(params.pop("weights"), **params)
    return featurize(load_images(folder, label_depth), featurizer, **params)


@pytest.fixture(scope="session")
def tflite_featurizer(weights_path):
    return make_featurizer(weights_path, backend="tflite")


def newest_version(output: Path) -> Path:
    """The newest committed version of a versioned Spark output: <output>/<version>/<name>/."""
    committed = sorted(output.glob(f"*/{output.name}/_SUCCESS"))
    assert committed, f"no committed version under {output}"
    return committed[-1].parent


def newest_file(output: Path) -> Path:
    """The newest version of a versioned single-file output: <output>/<version>/<name>."""
    versions = sorted(output.glob(f"*/{output.name}"))
    assert versions, f"no version under {output}"
    return versions[-1]
