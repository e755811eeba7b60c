"""No usage data is sent without consent: not by a KedroSession (the packaged wheel on EMR,
fruits-predict, kedro run) and not by the kedro command line, with no opt-out variable set.
tests/s3/test_spark_submit_package.py checks the packaged run itself the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks_entry_points
from kedro.framework.project import configure_project, settings

from tests.e2e.conftest import project_copy  # noqa: F401 - a throwaway copy of the project
from tests.network_probe import TELEMETRY_HOST, outside_hosts, probed_env, resolved_hosts


def telemetry_hooks(disabled: tuple[str, ...]) -> list[str]:
    """kedro-telemetry's hooks that a KedroSession registering the installed plugins calls."""
    manager = _create_hook_manager()
    _register_hooks_entry_points(manager, disabled)
    return [f"{type(impl.plugin).__module__}.{name}"
            for name in ("after_context_created", "after_catalog_created")
            for impl in getattr(manager.hook, name).get_hookimpls()
            if type(impl.plugin).__module__.startswith("kedro_telemetry")]  # fmt: skip


def test_sessions_register_no_telemetry_hook():
    # Installed with kedro and on by default: both of its session hooks would run.
    assert telemetry_hooks(()) == [
        "kedro_telemetry.plugin.after_context_created",
        "kedro_telemetry.plugin.after_catalog_created",
    ]
    configure_project("fruits_pipeline")  # what every session does: reads settings.py
    assert "kedro-telemetry" in settings.DISABLE_HOOKS_FOR_PLUGINS
    assert telemetry_hooks(settings.DISABLE_HOOKS_FOR_PLUGINS) == []


def test_kedro_mlflow_hook_is_the_projects_first_hook_only():
    """kedro-mlflow's hook, auto-registered by default, runs once: as the project's first
    hook (so called last in each stage: the MLflow run opens after the input checks)."""
    from kedro_mlflow.framework.hooks import MlflowHook  # noqa: PLC0415

    def plugin_modules(disabled: tuple[str, ...]) -> set[str]:
        manager = _create_hook_manager()
        _register_hooks_entry_points(manager, disabled)
        return {type(plugin).__module__.split(".")[0] for plugin in manager.get_plugins()}

    assert "kedro_mlflow" in plugin_modules(())
    configure_project("fruits_pipeline")
    assert "kedro_mlflow" not in plugin_modules(settings.DISABLE_HOOKS_FOR_PLUGINS)
    assert [isinstance(hook, MlflowHook) for hook in settings.HOOKS].count(True) == 1
    assert isinstance(settings.HOOKS[0], MlflowHook)


def kedro_cli(project: Path, network_log: Path) -> None:
    kedro = Path(sys.executable).with_name("kedro")
    env = probed_env(dict(os.environ), network_log)
    env["XDG_CONFIG_HOME"] = str(network_log.with_suffix(".config"))  # its user id file
    result = subprocess.run(
        [str(kedro), "registry", "list"], cwd=project, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "__default__" in result.stdout


def test_kedro_command_line_sends_nothing_without_the_variables(project_copy, tmp_path):  # noqa: F811
    committed = tmp_path / "with_opt_out.log"
    kedro_cli(project_copy, committed)
    assert outside_hosts(committed) == set()  # no telemetry, nor any other call off the machine

    # The same command without the committed `.telemetry` file: the probe sees the
    # plugin's call (so it would see one above), which only that file prevents.
    (project_copy / ".telemetry").unlink()
    missing = tmp_path / "without_opt_out.log"
    kedro_cli(project_copy, missing)
    assert TELEMETRY_HOST in resolved_hosts(missing)
