"""Native libraries that write to file descriptor 2 themselves (banners no logging
setting reaches), imported or started with it silenced for a moment; and a module whose
import gives a warning no filter reaches. Stdlib only: the Spark-free predictor uses it too."""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings

# MLflow's advice to type-annotate predict(), given when kedro-mlflow's pipeline model class
# (which this project does not use) is defined; MLflow sets its own warning filter for it.
KEDRO_MLFLOW_ADVICE = ("kedro_mlflow.mlflow", "Add type hints to the `predict` method")


@contextlib.contextmanager
def quiet_native_stderr():
    """File descriptor 2 to /dev/null for a moment (Python exceptions still propagate)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    """``tensorflow`` and ``keras``, imported once with TensorFlow's native start-up lines
    (absl's "before InitializeLog" notice, the oneDNN banner) silenced."""
    with quiet_native_stderr():
        import keras  # noqa: PLC0415 - heavy import, kept out of module import time
        import tensorflow as tf  # noqa: PLC0415

    return tf, keras


def import_without_warning(module: str, text: str) -> None:
    """Import ``module`` (once) and drop the warning that contains ``text``; every other
    warning of the import is issued again."""
    with warnings.catch_warnings(record=True) as caught:
        importlib.import_module(module)
    for warning in caught:
        if text not in str(warning.message):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
