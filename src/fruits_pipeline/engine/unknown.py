"""An honest "unknown": a photo unlike the training images, or a low-confidence answer.

Two tests, both on what the bundle holds (``artifacts.LinearHead``):

- distance: the Mahalanobis distance of the photo's PCA components to the Training
  images' mean. No-fruit photos and photos far from the studio land far away;
- probability: the classifier's top probability.

The thresholds are the bundle's (``LinearHead.unknown``); a bundle without them (not
calibrated) answers every photo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

UNLIKE_TRAINING = "unlike the training images"
LOW_CONFIDENCE = "low confidence"


def judge(
    distance: np.ndarray, probability: np.ndarray, unknown: dict[str, Any]
) -> list[str | None]:
    """Per photo: None (answered) or the reason it is unknown."""
    reasons: list[str | None] = []
    for d, p in zip(np.atleast_1d(distance), np.atleast_1d(probability), strict=True):
        if d > unknown["distance_threshold"]:
            reasons.append(UNLIKE_TRAINING)
        elif p < unknown["probability_threshold"]:
            reasons.append(LOW_CONFIDENCE)
        else:
            reasons.append(None)
    return reasons
