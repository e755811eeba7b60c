"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

import os
import warnings

# Read first by Kedro, before any node imports TensorFlow and before the Spark JVM starts
# (whose Python workers inherit the environment): TensorFlow's C++ INFO lines (the oneDNN
# banner) stay out of the log; a value set by the caller wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Kedro 1.7's OmegaConfigLoader (once per loader, so three times a run) and kedro-mlflow's
# hook still call omegaconf's deprecated register_new_resolver; nothing here calls it.
# Silenced for those callers only.
warnings.filterwarnings(
    "ignore",
    message=r"register_new_resolver\(\) is deprecated",
    category=UserWarning,
    module=r"kedro\.config\.omegaconf_config|kedro_mlflow\.framework\.hooks\.mlflow_hook",
)
from fruits_pipeline.hooks import (  # noqa: E402
    ParameterHooks,
    RetentionHooks,
    RunSummaryHooks,
    SparkCacheHooks,
    SparkHooks,
)
from fruits_pipeline.tracking import MlflowTrackingHook  # noqa: E402

# Kedro calls the hooks of one stage last-registered first: kedro-mlflow's (first here)
# opens the MLflow run after the inputs are checked and closes it after the run summary
# has recorded the bundle in it.
HOOKS = (
    MlflowTrackingHook(),
    SparkHooks(),
    ParameterHooks(),
    SparkCacheHooks(),
    RetentionHooks(),
    RunSummaryHooks(),
)

# No usage data leaves a laptop or a cluster: kedro-telemetry (a dependency of kedro itself)
# counts consent as given when it finds no `.telemetry` file and neither KEDRO_DISABLE_TELEMETRY
# nor DO_NOT_TRACK, which is the case of the packaged wheel on EMR. This setting, shipped in
# the wheel, keeps its hooks out of every KedroSession; the committed `.telemetry`
# (`consent: false`) covers its hooks on the `kedro` command line and kedro-viz.
# kedro-mlflow's hook is in HOOKS above, in its place, instead of auto-registered (its
# distribution is named with an underscore). MLflow's own telemetry: fruits_pipeline.tracking.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry", "kedro_mlflow")

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "spark": ["spark*", "spark*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
    # Envs override single keys (one path, one spark setting), not whole sections.
    "merge_strategy": {"parameters": "soft", "spark": "soft", "globals": "soft", "mlflow": "soft"},
}
