"""Screenshot of the project's Kedro-Viz graph, as Debian's headless Chromium renders it.

    python scripts/viz_screenshot.py OUT.png [--project DIR] [--preview DATASET=PREVIEW.png ...]

Runs ``kedro viz build --include-previews`` in DIR (default: this repo), serves DIR/build on
127.0.0.1, opens it in headless Chromium (/usr/bin/chromium through /usr/bin/chromedriver:
``make setup`` installs both), waits until the graph shows the task nodes, and saves a PNG.
Each ``--preview`` clicks that dataset's node, waits until its preview (table, image or
JSON) is drawn in the side panel, and saves another PNG. Exits non-zero if a node or a
preview never shows. The functions are reused by tests/e2e/test_viz_browser.py.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1600, 1000
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WIDTH},{HEIGHT}",
    # The page links Google Fonts: resolve nothing but loopback, so no request leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
# Nodes the script waits for by default (the test checks every task node of the pipeline).
DEFAULT_NODES = ("featurize_images", "fit_reduction")
TIMEOUT = 60

# Runs before the app's own scripts: no onboarding tour over the graph, and no node list or
# minimap beside it, so the graph gets the whole window. Kedro-Viz merges this saved state.
_PRESET_JS = """
try {
  const key = 'KedroViz';
  const state = JSON.parse(localStorage.getItem(key) || '{}');
  state.showFeatureHints = false;
  state.visible = Object.assign({}, state.visible, {sidebar: false, miniMap: false});
  localStorage.setItem(key, JSON.stringify(state));
} catch (e) {}
"""
# The labels the flowchart draws for task nodes (SVG text), once its zoom-to-fit has settled;
# null while the graph is missing or still animating.
_LABELS_JS = """
const wrapper = document.querySelector('g.pipeline-zoom-wrapper');
if (!wrapper || wrapper.getAttribute('class').includes('animating')) return null;
return Array.from(
  document.querySelectorAll('g.pipeline-node--task .pipeline-node__text'),
  (text) => getComputedStyle(text).opacity === '1' ? text.textContent.trim() : '',
);
"""


class ChromiumMissingError(RuntimeError):
    """Debian's chromium / chromium-driver packages are not installed."""


class NodesNotShownError(RuntimeError):
    """The page never showed the expected node labels."""


class PreviewNotShownError(RuntimeError):
    """Clicking a dataset node never drew its preview."""


# Click the dataset node (d3 listens for the click on its <g>), as a person would.
_CLICK_JS = """
const node = document.querySelector(
  `g.pipeline-node--data[data-node-fullname="${arguments[0]}"]`);
if (!node) return false;
node.dispatchEvent(new MouseEvent('click', {bubbles: true}));
return true;
"""
# What the metadata panel previews once drawn: a table's rows, a decoded image's size, or
# a JSON tree's text; null while nothing is drawn.
_PREVIEW_JS = """
const image = document.querySelector('img.pipeline-metadata__plot-image');
if (image && image.complete && image.naturalWidth > 0)
  return {kind: 'image', width: image.naturalWidth, height: image.naturalHeight};
const table = document.querySelector('.pipeline-metadata__preview table.preview-table');
const rows = table ? table.querySelectorAll('tr.preview-table__row') : [];
if (rows.length) {
  const header = Array.from(
    table.querySelectorAll('th.preview-table__header'), (cell) => cell.textContent.trim());
  return {kind: 'table', rows: rows.length, columns: header};
}
const tree = document.querySelector('.pipeline-metadata__preview-json');
if (tree && tree.textContent.trim()) return {kind: 'json', text: tree.textContent};
return null;
"""


def normalize(label: str) -> str:
    """Compare labels case-insensitively and whether or not Viz prettifies them.

    ``"Featurize Images"`` and ``"featurize_images"`` both become ``"featurize_images"``.
    """
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def project_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        KEDRO_DISABLE_TELEMETRY="true",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


def build_viz(project: Path, timeout: int = 600) -> Path:
    """``kedro viz build --include-previews`` in ``project``; the static site's folder."""
    kedro_cli = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro_cli), "viz", "build", "--include-previews"], cwd=project, env=project_env(),
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"kedro viz build failed in {project}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return project / "build"


def task_names(build: Path, pipeline: str = "__default__") -> list[str]:
    """Names of the task nodes of ``pipeline`` in the build's ``api/main`` graph."""
    graph = json.loads((build / "api" / "main").read_text())
    return sorted(
        node["name"]
        for node in graph["nodes"]
        if node["type"] == "task" and pipeline in node.get("pipelines", [pipeline])
    )


def previews(build: Path) -> dict[str, tuple[str, object]]:
    """Dataset name -> (preview type, preview) for every dataset the build previews."""
    graph = json.loads((build / "api" / "main").read_text())
    found = {}
    for node in graph["nodes"]:
        path = build / "api" / "nodes" / node["id"]
        if node["type"] == "data" and path.is_file():
            metadata = json.loads(path.read_text())
            if metadata.get("preview") is not None:
                found[node["name"]] = (metadata["preview_type"], metadata["preview"])
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass  # no request log on stderr


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 on a free port from a background thread; yield its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="viz-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def check_chromium() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        raise ChromiumMissingError(
            f"{' and '.join(missing)} not found: run `make setup` "
            "(Debian packages chromium and chromium-driver)"
        )


@contextlib.contextmanager
def chromium() -> Iterator:
    """Headless Debian Chromium driven by Debian's chromedriver, with a throwaway profile."""
    check_chromium()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a browser
    from selenium import webdriver  # noqa: PLC0415 (a clear error above comes first)
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="viz-chromium-", ignore_cleanup_errors=True) as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            # --window-size is the outer window: make the page itself WIDTH x HEIGHT.
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            )
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _PRESET_JS})
            yield driver
        finally:
            driver.quit()


def wait_for_nodes(driver, names: Iterable[str], timeout: float = TIMEOUT) -> list[str]:
    """Wait until the graph's task labels include ``names``; return the labels it shows."""
    from selenium.common.exceptions import TimeoutException  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    wanted = {normalize(name) for name in names}
    seen: list[str] = []

    def shown(driver) -> list[str] | bool:
        labels = driver.execute_script(_LABELS_JS)
        if labels is None:
            return False
        seen[:] = [label for label in labels if label]
        return seen if wanted <= {normalize(label) for label in seen} else False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(shown)
    except TimeoutException:
        missing = sorted(wanted - {normalize(label) for label in seen})
        raise NodesNotShownError(
            f"after {timeout:.0f} s the Kedro-Viz page at {driver.current_url} still does not show "
            f"the nodes {missing}; task labels it shows: {sorted(seen) or 'none'}"
        ) from None


def screenshot(
    url: str, out: Path, names: Iterable[str] = DEFAULT_NODES, timeout: float = TIMEOUT
) -> list[str]:
    """Open ``url`` in headless Chromium, wait for ``names`` in the graph, save ``out`` (PNG).

    Returns the task labels the page shows.
    """
    with chromium() as driver:
        driver.get(url)
        labels = wait_for_nodes(driver, names, timeout)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(out)):
            raise RuntimeError(f"Chromium could not write {out}")
        return labels


def open_preview(driver, dataset: str, timeout: float = TIMEOUT) -> dict:
    """Click ``dataset``'s node in the graph; wait for its preview in the side panel.

    Returns what is drawn: ``{"kind": "image", "width", "height"}``, ``{"kind": "table",
    "rows", "columns"}`` or ``{"kind": "json", "text"}``.
    """
    from selenium.common.exceptions import TimeoutException  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    if not driver.execute_script(_CLICK_JS, dataset):
        raise PreviewNotShownError(f"the graph has no dataset node {dataset!r}")
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            lambda driver: driver.execute_script(_PREVIEW_JS)
        )
    except TimeoutException:
        raise PreviewNotShownError(
            f"after {timeout:.0f} s clicking {dataset!r} still shows no preview: does the "
            "build have one (kedro viz build --include-previews, after a run)?"
        ) from None


def screenshot_previews(
    url: str,
    shots: dict[str, Path],
    names: Iterable[str] = DEFAULT_NODES,
    timeout: float = TIMEOUT,
) -> dict[str, dict]:
    """Open ``url``; for each dataset of ``shots``, click it and save its preview's PNG.

    Returns what each preview drew (see :func:`open_preview`).
    """  # fmt: skip
    drawn = {}
    with chromium() as driver:
        driver.get(url)
        wait_for_nodes(driver, names, timeout)
        for dataset, out in shots.items():
            drawn[dataset] = open_preview(driver, dataset, timeout)
            out.parent.mkdir(parents=True, exist_ok=True)
            if not driver.save_screenshot(str(out)):
                raise RuntimeError(f"Chromium could not write {out}")
    return drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--project", type=Path, default=REPO, help="Kedro project (default: repo)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds to wait for nodes")
    parser.add_argument(
        "--preview", action="append", default=[], metavar="DATASET=PNG",
        help="also click DATASET and save its preview to PNG (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    shots = dict(item.split("=", 1) for item in args.preview)
    try:
        check_chromium()
        build = build_viz(args.project.resolve())
        with serve(build) as url:
            labels = screenshot(url, args.out, DEFAULT_NODES, args.timeout)
            drawn = {}
            if shots:
                drawn = screenshot_previews(
                    url, {name: Path(png) for name, png in shots.items()}, DEFAULT_NODES,
                    args.timeout,
                )  # fmt: skip
    except RuntimeError as error:  # ChromiumMissingError, NodesNotShownError, a failed build
        print(f"viz_screenshot: error: {error}", file=sys.stderr)
        return 1
    print(f"task nodes shown ({len(labels)}): {', '.join(labels)}")
    print(f"screenshot: {args.out}")
    for name, png in shots.items():
        print(f"preview of {name} ({drawn[name]['kind']}): {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
