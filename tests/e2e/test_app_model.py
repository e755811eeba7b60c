"""The app model of a real ``kedro run``: LiteRT and MediaPipe agree with the bundle."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from fruits_pipeline.engine import Predictor
from fruits_pipeline.pipelines.app_export import metadata_schema_py_generated as meta
from fruits_pipeline.pipelines.app_export.nodes import METADATA_NAME
from fruits_pipeline.pipelines.featurization.model import decode_image
from tests.conftest import SAMPLE, copy_subset
from tests.e2e.conftest import kedro, make_project_copy

pytestmark = pytest.mark.e2e

CLASSES = sorted(p.name for p in (SAMPLE / "Training").iterdir())[::3]  # 11 of 33


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """One run of the sample's 11 classes (8 Training images each), all their Test images."""
    root = tmp_path_factory.mktemp("app_model")
    project = make_project_copy(root)
    images = copy_subset(root / "fruits", CLASSES, {"Training": 8, "Test": 15})
    kedro(project, "run", "--params", f"input_path={images},reduction.k=20")
    (bundle,) = (project / "data" / "06_models" / "model_bundle").glob("*/model_bundle/_SUCCESS")
    return {
        "app": project / "data" / "07_model_output" / "app_model",
        "predictor": Predictor.from_bundle(bundle.parent),
        "tests": sorted((images / "Test").glob("*/*.jpg")),
    }


def test_litert_runs_the_bundle_model(run):
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    predictor = run["predictor"]
    interpreter = Interpreter(model_path=str(run["app"] / "model.tflite"))
    interpreter.allocate_tensors()
    (image_input,), (output,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert image_input["dtype"] == np.uint8 and list(image_input["shape"]) == [1, 224, 224, 3]
    assert output["dtype"] == np.float32 and output["shape"][1] == len(CLASSES)
    same, largest_gap = 0, 0.0
    for path in run["tests"]:
        image = decode_image(path.read_bytes(), 224, "bilinear")
        interpreter.set_tensor(image_input["index"], image[None])
        interpreter.invoke()
        fused = interpreter.get_tensor(output["index"])[0]
        # Independent: the bundle's own featurizer.tflite + head.npz in numpy.
        head = predictor.head
        expected = head.probabilities(head.components(predictor.features(image[None])))[0]
        same += int(fused.argmax() == expected.argmax())
        largest_gap = max(largest_gap, float(np.abs(fused - expected).max()))
    assert same / len(run["tests"]) >= 0.995, (same, len(run["tests"]))
    assert largest_gap < 1e-3


def test_mediapipe_names_the_classes_from_the_file_alone(run):
    import mediapipe as mp  # noqa: PLC0415
    from mediapipe.tasks.python import BaseOptions, vision  # noqa: PLC0415

    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(run["app"] / "model.tflite")),
        max_results=1,
    )
    predictor = run["predictor"]
    same = same_raw = 0
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for path in run["tests"]:
            expected = predictor.predict(str(path)).label
            # The pixels the bundle's featurizer sees (Pillow resize to 224).
            image = decode_image(path.read_bytes(), 224, "bilinear")
            answer = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
            same += int(answer.classifications[0].categories[0].category_name == expected)
            # The photo as an app hands it over: MediaPipe's own resize differs a little.
            answer = classifier.classify(mp.Image.create_from_file(str(path)))
            same_raw += int(answer.classifications[0].categories[0].category_name == expected)
    assert same / len(run["tests"]) >= 0.99, (same, len(run["tests"]))
    assert same_raw / len(run["tests"]) >= 0.95, (same_raw, len(run["tests"]))


def test_labels_round_trip_through_the_metadata(run):
    from ai_edge_litert import schema_py_generated as schema  # noqa: PLC0415

    model_file = run["app"] / "model.tflite"
    labels = (run["app"] / "labels.txt").read_text()
    assert labels.splitlines() == list(run["predictor"].head.labels())
    with zipfile.ZipFile(model_file) as archive:
        assert archive.read("labels.txt").decode() == labels
    content = model_file.read_bytes()
    model = schema.Model.GetRootAs(content, 0)
    (entry,) = [
        model.Metadata(i) for i in range(model.MetadataLength())
        if model.Metadata(i).Name() == METADATA_NAME.encode()
    ]  # fmt: skip
    data = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    metadata = meta.ModelMetadata.GetRootAs(data, 0)
    (output,) = [metadata.SubgraphMetadata(0).OutputTensorMetadata(0)]
    associated = output.AssociatedFiles(0)
    assert associated.Name() == b"labels.txt"
    assert associated.Type() == meta.AssociatedFileType.TENSOR_AXIS_LABELS
    card = (run["app"] / "model_card.md").read_text()
    assert f"File size: {model_file.stat().st_size} bytes" in card
    assert "research" in card and "real grocery-store photos" in " ".join(card.split())
    assert f"| fruits360 | {8 * len(CLASSES)} | {15 * len(CLASSES)} |" in card
