"""Run a subprocess with the network probe (``sitecustomize.py`` here) and read its log."""

from __future__ import annotations

from pathlib import Path

from tests.network_probe.sitecustomize import is_local

PROBE = Path(__file__).resolve().parent
OPT_OUT_VARIABLES = ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY")
TELEMETRY_HOST = "heapanalytics.com"  # kedro_telemetry.plugin.HEAP_ENDPOINT


def probed_env(env: dict[str, str], network_log: Path) -> dict[str, str]:
    """``env`` minus every telemetry opt-out, with the probe loaded and logging there."""
    env = {k: v for k, v in env.items() if k not in OPT_OUT_VARIABLES}
    env.pop("CI", None)  # the plugin also reports CI runs; do not depend on where tests run
    env["PYTHONPATH"] = str(PROBE)  # and nothing else: the code run is the project's own
    env["FRUITS_NETWORK_LOG"] = str(network_log)
    return env


def resolved_hosts(network_log: Path) -> set[str]:
    """Every host name the probed processes resolved (or tried to)."""
    if not network_log.exists():
        return set()
    return {line.split(" ", 1)[1] for line in network_log.read_text().splitlines()}


def outside_hosts(network_log: Path) -> set[str]:
    """The hosts off this machine they tried to reach (the probe refused them)."""
    return {host for host in resolved_hosts(network_log) if not is_local(host)}
