"""Native libraries that write to file descriptor 2 themselves (banners no logging
setting reaches), imported or started with it silenced for a moment. Stdlib only: the
Spark-free predictor uses it too."""

from __future__ import annotations

import contextlib
import os


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
