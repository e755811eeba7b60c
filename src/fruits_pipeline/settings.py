"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

from fruits_pipeline.hooks import ParameterHooks, RetentionHooks, SparkCacheHooks, SparkHooks

HOOKS = (SparkHooks(), ParameterHooks(), SparkCacheHooks(), RetentionHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
    },
    # Envs override single keys (one path, one spark setting), not whole sections.
    "merge_strategy": {"parameters": "soft", "spark": "soft", "globals": "soft"},
}
