"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

from fruits_pipeline.hooks import ParameterHooks, RetentionHooks, SparkCacheHooks, SparkHooks

HOOKS = (SparkHooks(), ParameterHooks(), SparkCacheHooks(), RetentionHooks())

# No usage data leaves a laptop or a cluster: kedro-telemetry (a dependency of kedro itself)
# counts consent as given when it finds no `.telemetry` file and neither KEDRO_DISABLE_TELEMETRY
# nor DO_NOT_TRACK, which is the case of the packaged wheel on EMR. This setting, shipped in
# the wheel, keeps its hooks out of every KedroSession; the committed `.telemetry`
# (`consent: false`) covers its hooks on the `kedro` command line and kedro-viz.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry",)

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
    },
    # Envs override single keys (one path, one spark setting), not whole sections.
    "merge_strategy": {"parameters": "soft", "spark": "soft", "globals": "soft"},
}
