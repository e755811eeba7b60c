"""The notebooks: committed without outputs, and both run headless after a real ``kedro run``."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from kedro.io.core import generate_timestamp
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import REPO, SAMPLE, copy_subset
from tests.e2e.conftest import WITHOUT_APP_EXPORT, kedro, project_env

NOTEBOOKS = REPO / "notebooks"
NAMES = ("01_eda.ipynb", "02_results.ipynb")
CLASSES = sorted(p.name for p in (SAMPLE / "Training").iterdir())[:10]
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


def cell_text(cell) -> str:
    """Everything a cell showed as text (streams, plain-text displays, errors), ANSI removed."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return ANSI.sub("", "\n".join(parts))


def execute(notebook: Path, **env: str) -> nbformat.NotebookNode:
    """Run ``notebook`` in a fresh kernel of this interpreter, from its own folder."""
    nb = nbformat.read(notebook, as_version=4)
    manager = KernelManager(kernel_name="python3")
    # This interpreter (the project's venv), whatever `python` is on PATH.
    launcher = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    manager.kernel_spec.argv = launcher
    client = NotebookClient(
        nb, km=manager, timeout=600, resources={"metadata": {"path": str(notebook.parent)}}
    )
    try:
        client.execute(env={**project_env(), **env})
    except CellExecutionError as error:
        # Kedro's IPython extension renders tracebacks with rich, as a display, not as the
        # error output nbclient quotes: show what the failing cell printed.
        failed = [cell for cell in nb.cells if cell.get("outputs")][-1]
        pytest.fail(f"{notebook.name} failed:\n{error}\n{cell_text(failed)[-5000:]}")
    return nb


def test_repo_notebooks_have_no_outputs():
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert code, name
        for cell in code:
            assert cell.outputs == [], f"{name}: outputs in cell {cell.source[:60]!r}"
            assert cell.execution_count is None, f"{name}: cell {cell.source[:60]!r}"


def png_count(nb: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


def stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(
        output.text
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stdout"
    )


@pytest.mark.e2e
def test_notebooks_run_on_pipeline_outputs(project_copy, tmp_path, weights_path):
    images = copy_subset(tmp_path / "fruits", CLASSES, {"Training": 3, "Test": 2})
    n_images = len(list(images.rglob("*.jpg")))
    assert n_images == 50
    kedro(
        project_copy, "run", "--env", "local", *WITHOUT_APP_EXPORT,
        "--params", f"input_path={images},featurization.weights={weights_path}",
    )  # fmt: skip
    data = project_copy / "data"
    bundles = data / "06_models" / "model_bundle"
    (version,) = (p.name for p in bundles.iterdir())
    # A later run that died before its bundle was complete: it left a newer PCA table
    # (3 rows) and a bundle folder without _SUCCESS. The notebook must not mix them in.
    later = generate_timestamp()
    assert later > version
    table = data / "05_model_input" / "pca_features.csv"
    (table / later).mkdir()
    rows = (table / version / "pca_features.csv").read_text().splitlines(keepends=True)
    (table / later / "pca_features.csv").write_text("".join(rows[:4]))
    shutil.copytree(bundles / version, bundles / later)
    (bundles / later / "model_bundle" / "_SUCCESS").unlink()

    notebooks = project_copy / "notebooks"
    notebooks.mkdir()
    for name in NAMES:
        shutil.copy(NOTEBOOKS / name, notebooks / name)

    eda = execute(notebooks / "01_eda.ipynb", FRUITS_DATA=str(images))
    outputs = [output for cell in eda.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    assert png_count(eda) >= 2
    eda_text = "\n".join(cell_text(cell) for cell in eda.cells)
    # Read through the catalog's raw_images, pointed at the folder by FRUITS_DATA.
    assert "ImageFolderDataset(" in eda_text and str(images) in eda_text
    assert f"{n_images} images, 10 classes" in eda_text

    results = execute(notebooks / "02_results.ipynb", FRUITS_PROJECT=str(project_copy))
    streams = stdout(results)
    # One run's results: the newest complete bundle and the PCA table of its version.
    assert f"model bundle: {version}\n" in streams
    assert f"rows: {n_images}\n" in streams
    # The default pipeline trains the classifier, so its metrics are there to report.
    assert "accuracy: " in streams and "macro F1: " in streams
    assert "classifier skipped" not in streams
    # The classifier's errors, scored again from the table: as many as the run counted.
    metrics = json.loads((bundles / version / "model_bundle" / "manifest.json").read_text())
    n_test = metrics["metrics"]["n_test_images"]
    wrong = round((1 - metrics["metrics"]["accuracy"]) * n_test)
    assert f"misclassified Test images: {wrong} of {n_test}\n" in streams
    # The bundle's figures: scree plot, label counts, PCA scatter, confusion matrix.
    assert png_count(results) >= 4 + (wrong > 0)
