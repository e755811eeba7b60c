"""The static ``kedro viz build`` site, opened in headless Chromium, draws every task node."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import REPO
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


def test_viz_page_in_chromium_shows_every_task_node(project_copy, tmp_path):
    if not viz.CHROMIUM.exists() or not viz.CHROMEDRIVER.exists():
        pytest.fail(
            f"{viz.CHROMIUM} or {viz.CHROMEDRIVER} is missing: run `make setup` "
            "(it installs Debian's chromium and chromium-driver)"
        )

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
