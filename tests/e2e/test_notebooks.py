"""The notebooks: committed without outputs, and both run headless after a real ``kedro run``."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import REPO, SAMPLE, copy_subset
from tests.e2e.conftest import kedro, project_env

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


@pytest.mark.e2e
def test_notebooks_run_on_pipeline_outputs(project_copy, tmp_path, weights_path):
    images = copy_subset(tmp_path / "fruits", CLASSES, {"Training": 3, "Test": 2})
    n_images = len(list(images.rglob("*.jpg")))
    assert n_images == 50
    kedro(
        project_copy, "run", "--env", "local",
        "--params", f"input_path={images},featurization.weights={weights_path}",
    )  # fmt: skip
    notebooks = project_copy / "notebooks"
    notebooks.mkdir()
    for name in NAMES:
        shutil.copy(NOTEBOOKS / name, notebooks / name)

    eda = execute(notebooks / "01_eda.ipynb", FRUITS_DATA=str(images))
    outputs = [output for cell in eda.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    assert sum("image/png" in output.get("data", {}) for output in outputs) >= 2
    eda_text = "\n".join(cell_text(cell) for cell in eda.cells)
    assert f"{n_images} images, 10 classes" in eda_text

    results = execute(notebooks / "02_results.ipynb", FRUITS_PROJECT=str(project_copy))
    streams = "".join(
        output.text
        for cell in results.cells
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stdout"
    )
    assert f"rows: {n_images}\n" in streams
    # The default pipeline trains the classifier, so its metrics are there to report.
    assert "accuracy: " in streams and "macro F1: " in streams
    assert "has not run" not in streams
