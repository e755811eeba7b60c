"""`make run` sets up only what a run needs; `make test` adds the browser, dev extras and jars.

`make -n -B` prints every command a target would run on a fresh clone (nothing runs).
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO

TEST_ONLY = ["chromium", '".[dev', "fetch_s3a_jars.py"]


def planned_commands(target: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_run_installs_no_browser_dev_extras_or_jars():
    planned = planned_commands("run")
    assert "pip install --quiet -c constraints.txt -e .\n" in planned
    assert "kedro run --env local" in planned
    for needed_by_tests_only in TEST_ONLY:
        assert needed_by_tests_only not in planned


def test_make_test_adds_what_the_tests_need():
    planned = planned_commands("test")
    for needed_by_tests in TEST_ONLY:
        assert needed_by_tests in planned


@pytest.mark.parametrize("target", ["run", "test"])
def test_apt_never_upgrades_installed_packages(target):
    planned = planned_commands(target).splitlines()
    apt_lines = [line for line in planned if "apt-get install" in line]
    assert apt_lines and all("--no-upgrade" in line for line in apt_lines)
