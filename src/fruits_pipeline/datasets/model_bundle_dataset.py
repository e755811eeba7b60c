"""``ModelBundleDataset``: one versioned folder per run, loadable only once complete."""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import (
    AbstractVersionedDataset,
    Version,
    VersionNotFoundError,
    get_protocol_and_path,
)
from kedro_datasets._typing import JSONPreview
from py4j.protocol import Py4JJavaError
from pyspark.ml import PipelineModel

from fruits_pipeline.artifacts import Featurizer, LinearHead, ModelBundle
from fruits_pipeline.errors import UserError

from .hadoop_fs import (
    glob_uris,
    is_complete,
    mark_complete,
    protocol_uri,
    read_bytes,
    storage_error,
    write_bytes,
)
from .previews import newest_complete

logger = logging.getLogger(__name__)


class ModelBundleDataset(AbstractVersionedDataset[ModelBundle, ModelBundle]):
    """A :class:`~fruits_pipeline.artifacts.ModelBundle` in ``<filepath>/<version>/<name>/``.

    Layout: ``manifest.json`` (version, inputs, metrics, classes, project version, git
    commit), ``featurizer.json`` + ``featurizer.tflite`` (or ``featurizer_keras.npz``),
    ``reduction/`` and ``classifier/`` (Spark ML ``PipelineModel`` folders), ``head.npz``
    + ``head.json`` (the same stages as numpy, for Spark-free prediction) and
    ``reports/``; ``_SUCCESS`` is written last. A load takes the newest version with
    ``_SUCCESS`` (a run that died while writing its bundle is never read), or exactly
    ``model_version`` when one is given (``--params model_version=...``).

    Local paths are made absolute; ``s3://`` goes through s3a, with Spark's credentials
    and endpoint.

    Example:
        ```yaml
        model_bundle:
          type: fruits_pipeline.datasets.ModelBundleDataset
          filepath: s3://bucket/data/06_models/model_bundle
          versioned: true
          model_version: ${runtime_params:model_version, null}
        ```
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        model_version: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._protocol, path = get_protocol_and_path(filepath)
        if self._protocol == "file":
            path = os.path.abspath(path)
        self._model_version = str(model_version) if model_version else None
        if self._model_version:
            version = Version(self._model_version, version.save if version else None)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=lambda p: is_complete(self._uri(p)),
            glob_function=lambda pattern: glob_uris(self._uri(pattern)),
        )

    def _uri(self, path: PurePosixPath | str) -> str:
        return protocol_uri(self._protocol, str(path))

    def _shown(self) -> str:
        return self._uri(self._filepath)

    def complete_versions(self) -> list[str]:
        """Versions with a complete bundle, newest first."""
        pattern = self._uri(self._filepath / "*" / self._filepath.name / "_SUCCESS")
        return sorted((PurePosixPath(p).parts[-3] for p in glob_uris(pattern)), reverse=True)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._shown(), "version": self._version}

    def _exists(self) -> bool:
        try:
            return is_complete(self._uri(self._get_load_path()))
        except VersionNotFoundError:
            return False

    def _load_uri(self) -> str:
        try:
            uri = self._uri(self._get_load_path())
        except VersionNotFoundError:
            raise UserError(
                f"No trained model bundle under {self._shown()}: run `kedro run` (or "
                "`make run`) first, or point model_version at an existing one."
            ) from None
        if not is_complete(uri):  # a version named explicitly (model_version, load_version)
            raise UserError(
                f"model_version={uri.rstrip('/').split('/')[-2]!r}: no complete model bundle "
                f"of that version under {self._shown()}. Complete versions: "
                f"{self.complete_versions() or 'none'}; drop --params model_version to use "
                "the newest."
            )
        return uri

    def load(self) -> ModelBundle:
        try:
            uri = self._load_uri()
        except Py4JJavaError as error:
            raise storage_error(self._shown(), error, "list model bundles in") from None
        try:
            manifest = json.loads(read_bytes(f"{uri}/manifest.json"))
            featurizer = Featurizer.from_stored(
                read_bytes(f"{uri}/featurizer.json"), lambda name: read_bytes(f"{uri}/{name}")
            )
            reduction = PipelineModel.load(f"{uri}/reduction")
            classifier = PipelineModel.load(f"{uri}/classifier") if manifest["classes"] else None
            reports = {name: read_bytes(f"{uri}/reports/{name}") for name in manifest["reports"]}
            head = None
            if manifest["classes"] and "families" in manifest:  # older bundles: no head
                head = LinearHead.from_files(
                    {name: read_bytes(f"{uri}/{name}") for name in LinearHead.FILES}
                )
        except Py4JJavaError as error:
            text = str(error.java_exception.toString())
            if "AccessDenied" in text or "403" in text or "credential" in text.lower():
                raise storage_error(uri, error, "read the model bundle") from None
            raise self._corrupt(uri, text.splitlines()[0][:300]) from None
        except (KeyError, TypeError, ValueError) as error:
            raise self._corrupt(uri, f"{type(error).__name__}: {error}") from None
        return ModelBundle(featurizer, reduction, classifier, manifest, reports, head)

    def _corrupt(self, uri: str, why: str) -> UserError:
        return UserError(
            f"The model bundle {uri} is corrupt or incomplete ({why}). Rerun `kedro run`, "
            "or pass --params model_version= of another complete version: "
            f"{self.complete_versions()[:5]}."
        )

    def preview(self) -> JSONPreview:
        """kedro-viz: the newest complete bundle's manifest (metrics, k, classes, inputs),
        read through fsspec: a preview starts no Spark session."""
        root = str(self._filepath)
        filesystem, bundle = newest_complete(
            root if self._protocol == "file" else f"{self._protocol}://{root}"
        )
        return JSONPreview(filesystem.cat_file(f"{bundle}/manifest.json").decode("utf-8"))

    def save(self, data: ModelBundle) -> None:
        save_path = self._get_save_path()
        uri = self._uri(save_path)
        version = save_path.parts[-2] if self._version is not None else None
        featurizer = data.featurizer
        write_bytes(f"{uri}/featurizer.json", _json(featurizer.settings()))
        if featurizer.backend == "keras":
            arrays = io.BytesIO()
            np.savez(arrays, *featurizer.payload)
            write_bytes(f"{uri}/featurizer_keras.npz", arrays.getvalue())
        else:
            write_bytes(f"{uri}/featurizer.tflite", featurizer.payload)
        data.reduction.write().save(f"{uri}/reduction")
        if data.classifier is not None:
            data.classifier.write().save(f"{uri}/classifier")
        if data.head is not None:
            for name, content in data.head.to_files().items():
                write_bytes(f"{uri}/{name}", content)
        for name, content in data.reports.items():
            write_bytes(f"{uri}/reports/{name}", content)
        data.manifest["version"] = version
        write_bytes(f"{uri}/manifest.json", _json(data.manifest))
        mark_complete(uri)  # last: only now can a reader load it
        logger.info("model bundle %s written", version)  # where: the run summary


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()
