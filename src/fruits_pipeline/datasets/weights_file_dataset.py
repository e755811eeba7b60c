"""``WeightsFileDataset``: a model weights file read as bytes, through fsspec."""

from __future__ import annotations

from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_filepath_str, get_protocol_and_path

from fruits_pipeline.artifacts import KERAS_IMAGENET, WeightsFile
from fruits_pipeline.errors import UserError


class WeightsFileDataset(AbstractDataset[None, WeightsFile]):
    """MobileNetV2 weights (local path, ``s3://``, ...) as an ``artifacts.WeightsFile``.

    The file goes through the env's ``credentials`` and ``fs_args`` like every other
    file dataset (so ``s3_local`` reads it from the local S3 server, not AWS).
    ``filepath: imagenet`` stands for Keras' own ImageNet download.

    Example:
        ```yaml
        featurizer_weights:
          type: fruits_pipeline.datasets.WeightsFileDataset
          filepath: s3://bucket/weights/mobilenet_v2.weights.h5
          fs_args: {client_kwargs: {region_name: eu-west-3}}
        ```
    """

    def __init__(
        self,
        *,
        filepath: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        # Kedro's catalog may have made the word an absolute path (<project>/imagenet).
        self._keras_download = PurePosixPath(filepath).name == KERAS_IMAGENET
        self._protocol, self._path = get_protocol_and_path(filepath)
        self._filepath = filepath
        self._fs = None
        if not self._keras_download:
            self._fs = fsspec.filesystem(
                self._protocol, **deepcopy(credentials or {}), **deepcopy(fs_args or {})
            )
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}

    def load(self) -> WeightsFile:
        if self._keras_download:
            return WeightsFile(name=KERAS_IMAGENET, content=None)
        try:
            with self._fs.open(
                get_filepath_str(PurePosixPath(self._path), self._protocol), "rb"
            ) as file:
                content = file.read()
        except FileNotFoundError:
            raise UserError(
                f"featurization.weights: {self._filepath} does not exist. Point it at a "
                "MobileNetV2 no-top weights file (.h5), e.g. --params featurization.weights="
                "/path/to/file.weights.h5, or use 'imagenet' where the Keras download works."
            ) from None
        except PermissionError as error:
            raise UserError(
                f"featurization.weights: {self._filepath} cannot be read ({error}); check "
                "the credentials of this env."
            ) from None
        weights = WeightsFile(name=self._path.rsplit("/", 1)[-1], content=content)
        weights.check()
        return weights

    def save(self, data: WeightsFile) -> None:
        raise DatasetError("featurizer_weights is an input; it is never written.")
