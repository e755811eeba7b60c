"""The recognition engine without Spark or Kedro: a model bundle folder -> answers.

``fruits-predict`` runs on it; it imports numpy, Pillow and the LiteRT interpreter only
(no TensorFlow for a TFLite bundle), so the first answer comes in about a second.
"""

from .predictor import Answer, Predictor, find_bundle
from .unknown import judge

__all__ = ["Answer", "Predictor", "find_bundle", "judge"]
