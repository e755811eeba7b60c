"""Incremental mode: a rerun featurizes only new or changed images and merges the rest."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.conftest import copy_subset, newest_file, newest_version, sample_files
from tests.e2e.conftest import kedro

pytestmark = pytest.mark.e2e

CLASSES = ["Kiwi", "Lemon"]
# What this test checks is the featurization stage (and, once, the PCA refit on the merged
# set): its runs stop there rather than train, report and publish each time.
FEATURES = "image_features,rejected_images"
TO_FEATURES = ("--to-outputs", FEATURES)
TO_PCA_TABLE = ("--to-outputs", f"{FEATURES},pca_features_table")


def features_by_file(project) -> pd.DataFrame:
    table = pd.read_parquet(
        newest_version(project / "data" / "04_feature" / "image_features.parquet")
    )
    return table.set_index(table["path"].map(lambda p: "/".join(p.split("/")[-3:])))


def file_key(path) -> str:
    return "/".join(path.parts[-3:])


def test_rerun_featurizes_only_new_or_changed_images(project_copy, tmp_path, weights_path):
    images = copy_subset(tmp_path / "fruits", CLASSES, {"Training": 3, "Test": 1})
    params = f"input_path={images},reduction.k=2"
    first_log = kedro(
        project_copy, "run", *TO_FEATURES, "--params", f"{params},incremental=true"
    ).stdout
    assert "no stored image_features yet" in first_log
    first = features_by_file(project_copy)
    assert len(first) == 8

    # New images: a new class and one more Kiwi.
    copy_subset(images, ["Apple Red 1"], {"Training": 3})
    extra = sample_files("Training", "Kiwi")[5]
    shutil.copy(extra, images / "Training" / "Kiwi" / extra.name)
    # Unchanged key, unreadable content: had it been read again it would be rejected.
    kiwi = sorted((images / "Training" / "Kiwi").glob("*.jpg"))
    untouched = kiwi[0]
    stat = untouched.stat()
    untouched.write_bytes(os.urandom(stat.st_size))
    os.utime(untouched, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # Changed file (another photo under the same name): featurized again.
    changed = sorted((images / "Training" / "Lemon").glob("*.jpg"))[0]
    shutil.copy(sample_files("Training", "Lemon")[9], changed)
    # Deleted file: its stored features leave the table.
    removed = sorted((images / "Test" / "Lemon").glob("*.jpg"))[0]
    removed.unlink()

    second_log = " ".join(
        kedro(
            project_copy, "run", *TO_PCA_TABLE, "--params", f"{params},incremental=true"
        ).stdout.split()
    )
    # 8 stored: 6 reused, 2 dropped (changed + deleted); 3 + 1 new + 1 changed featurized.
    assert "incremental: 6 stored features reused, 2 dropped" in second_log
    assert "5 new or changed images to featurize" in second_log
    assert re.search(r"featurized 5/5 images", second_log)
    assert "images seen 5 = featurized 5 + rejected 0" in second_log

    second = features_by_file(project_copy)
    key = lambda path: "/".join(path.parts[-3:])  # noqa: E731
    assert sorted(second.index) == sorted(key(p) for p in images.rglob("*.jpg"))
    assert (
        second.loc[key(untouched), "features"].tolist()
        == first.loc[key(untouched), "features"].tolist()
    )
    assert not np.allclose(
        np.asarray(second.loc[key(changed), "features"]),
        np.asarray(first.loc[key(changed), "features"]),
    )
    assert second["label"].value_counts().to_dict() == {"Kiwi": 5, "Lemon": 3, "Apple Red 1": 3}
    # PCA refit on the merged set: every image is in the reduced table.
    table = pd.read_csv(newest_file(project_copy / "data" / "05_model_input" / "pca_features.csv"))
    assert len(table) == 11
    assert pd.read_csv(project_copy / "data" / "08_reporting" / "rejected_images.csv").empty

    # Without incremental everything is read again, and the scrambled file shows up.
    kedro(project_copy, "run", *TO_FEATURES, "--params", params)
    rejected = pd.read_csv(project_copy / "data" / "08_reporting" / "rejected_images.csv")
    assert [p.split("/")[-1] for p in rejected["path"]] == [untouched.name]
    assert len(features_by_file(project_copy)) == 10

    # Another featurizer (image size): nothing stored is reused, and the log says why.
    third_log = " ".join(
        kedro(
            project_copy,
            "run",
            *TO_FEATURES,
            "--params",
            f"{params},incremental=true,featurization.image_size=160",
        ).stdout.split()
    )
    assert "incremental: the featurizer changed" in third_log
    assert "re-featurizing every image" in third_log
    third = features_by_file(project_copy)
    assert third["featurizer"].nunique() == 1
    assert third["featurizer"].iloc[0] != second["featurizer"].iloc[0]
