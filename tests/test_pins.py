"""Installs are pinned: pyproject.toml's pins, the build backend, and constraints.txt (the
whole tested set, `make lock`) agree; kedro-viz is not installed on cluster nodes."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(\[[^\]]*\])?==(?P<version>[^;\s]+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        match = PIN.match(requirement)
        assert match, f"not an exact pin: {requirement!r}"
        found[canonical(match["name"])] = match["version"]
    return found


def locked() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return pins([line for line in lines if line and not line.startswith("#")])


def test_build_backend_is_pinned():
    assert pins(PYPROJECT["build-system"]["requires"]).keys() == {"setuptools"}


def test_constraints_hold_every_pin_of_pyproject():
    project = PYPROJECT["project"]
    wanted = pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted |= pins(extra)
    lock = locked()
    assert {name: lock.get(name) for name in wanted} == wanted, "run `make lock`"
    assert len(lock) > 3 * len(wanted)  # transitive dependencies are pinned too


def test_kedro_viz_is_an_extra_not_a_cluster_dependency():
    project = PYPROJECT["project"]
    assert "kedro-viz" not in pins(project["dependencies"])
    assert "kedro-viz" in pins(project["optional-dependencies"]["viz"])
