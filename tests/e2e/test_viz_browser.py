"""The static ``kedro viz build`` site, opened in headless Chromium: every task node drawn,
the layers in order, and a run's outputs previewed when their node is clicked."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys

import pandas as pd
import pytest

from tests.conftest import REPO, SAMPLE, copy_subset, newest_version
from tests.e2e.conftest import kedro

pytestmark = pytest.mark.e2e


def _load_viz_screenshot():
    path = REPO / "scripts" / "viz_screenshot.py"
    spec = importlib.util.spec_from_file_location("viz_screenshot", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


viz = _load_viz_screenshot()


LAYERS = ["raw", "feature", "model_input", "models", "reporting", "model_output"]


def need_chromium() -> None:
    if not viz.CHROMIUM.exists() or not viz.CHROMEDRIVER.exists():
        pytest.fail(
            f"{viz.CHROMIUM} or {viz.CHROMEDRIVER} is missing: run `make setup` "
            "(it installs Debian's chromium and chromium-driver)"
        )


def test_viz_page_in_chromium_shows_every_task_node(project_copy, tmp_path):
    need_chromium()
    kedro(project_copy, "viz", "build")
    build = project_copy / "build"
    names = viz.task_names(build)
    assert len(names) >= 2 and {"featurize_images", "fit_reduction"} <= set(names)

    png = tmp_path / "kedro-viz.png"
    with viz.serve(build) as url:
        shown = viz.screenshot(url, png, names)

    assert sorted(map(viz.normalize, shown)) == sorted(map(viz.normalize, names))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000, f"{png} is only {png.stat().st_size} bytes"


def test_viz_previews_what_a_run_wrote(project_copy, tmp_path):
    """After a small run, `kedro viz build --include-previews` carries the run's own
    outputs, and clicking their nodes in Chromium draws them (image, table, JSON)."""
    need_chromium()
    classes = sorted(p.name for p in (SAMPLE / "Training").iterdir())[:3]
    images = copy_subset(tmp_path / "fruits", classes, {"Training": 4, "Test": 2})
    kedro(
        project_copy, "run", "--env", "local", "--to-outputs", "model_bundle",
        "--params", f"input_path={images}",
    )  # fmt: skip
    build = viz.build_viz(project_copy)
    graph = json.loads((build / "api" / "main").read_text())
    assert graph["layers"] == LAYERS
    # Nodes tagged with their pipeline's name (the page's tag filter).
    assert {"featurization", "reduction", "classification", "reporting"} <= {
        tag["id"] for tag in graph["tags"]
    }

    data = project_copy / "data"
    bundle = newest_version(data / "06_models" / "model_bundle")
    reports = bundle / "reports"
    shown = viz.previews(build)
    kind, png = shown["pca_scatter"]
    assert kind == "ImagePreview"
    assert base64.b64decode(png) == (reports / "pca_scatter.png").read_bytes()
    kind, metrics = shown["classification_metrics"]
    assert kind == "JSONPreview"
    assert json.loads(metrics) == json.loads((reports / "classification_metrics.json").read_text())
    kind, manifest = shown["model_bundle"]
    assert kind == "JSONPreview" and json.loads(manifest)["version"] == bundle.parent.name
    # The parquet preview: rows of the newest committed features, as pandas reads them.
    kind, table = shown["image_features"]
    features = pd.read_parquet(newest_version(data / "04_feature" / "image_features.parquet"))
    assert kind == "TablePreview" and len(table["data"]) == 10
    assert table["columns"] == ["path", "label", "split", "source", "family", "featurizer"]
    expected = set(features[table["columns"]].itertuples(index=False, name=None))
    assert {tuple(row) for row in table["data"]} <= expected
    kind, summary = shown["run_summary"]
    assert kind == "HTMLPreview" and "<h1>fruits_pipeline run summary</h1>" in summary
    kind, variance = shown["explained_variance"]
    assert kind == "TablePreview"
    assert variance["data"][0] == pd.read_csv(reports / "explained_variance.csv").iloc[0].tolist()

    shots = {name: tmp_path / f"{name}.png" for name in ("pca_scatter", "pca_features")}
    with viz.serve(build) as url:
        drawn = viz.screenshot_previews(url, shots)
    assert drawn["pca_scatter"]["kind"] == "image"
    assert drawn["pca_scatter"]["width"] > 500  # the published PNG, decoded by the browser
    assert drawn["pca_features"]["kind"] == "table"
    assert drawn["pca_features"]["columns"][:3] == ["path", "label", "split"]
    assert drawn["pca_features"]["rows"] == 10
    for png in shots.values():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
