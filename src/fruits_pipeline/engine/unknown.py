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


def _probability_threshold(probability: np.ndarray, rejects: int) -> float:
    """The lowest threshold that rejects at most ``rejects`` of these probabilities
    (ties are kept together, so it may reject fewer)."""
    if rejects <= 0 or probability.size == 0:
        return 0.0
    # Rejects those strictly below: at most the ``rejects`` lowest.
    return float(np.sort(probability)[min(rejects, probability.size - 1)])


def calibrate(
    test_distance: np.ndarray,
    test_probability: np.ndarray,
    nofruit_distance: np.ndarray,
    nofruit_probability: np.ndarray,
    accept: float,
    steps: int = 21,
) -> dict[str, float]:
    """The two thresholds: answer at least ``accept`` of the Test images, and flag as many
    of the no-fruit photos as possible.

    The rejection budget ``1 - accept`` of Test is split between the two tests in
    ``steps`` shares: the distance threshold takes its share as a quantile of the Test
    distances, the probability threshold rejects what is left of the budget among the
    Test images the distance accepts. The split that flags the most no-fruit photos wins
    (ties: the one that answers more Test images).
    """
    test_distance = np.asarray(test_distance, np.float64)
    test_probability = np.asarray(test_probability, np.float64)
    n = test_distance.size
    budget = int(np.floor(n * (1.0 - accept) + 1e-9))  # Test images that may be rejected
    ordered = np.sort(test_distance)
    best: tuple[tuple[float, float], dict[str, float]] | None = None
    for share in np.linspace(0.0, 1.0, steps):
        by_distance = round(float(share) * budget)
        # Reject the by_distance farthest Test images (and nothing nearer than them).
        distance_threshold = float(ordered[n - by_distance - 1]) if n else np.inf
        kept = test_distance <= distance_threshold
        left = budget - int(np.count_nonzero(~kept))
        probability_threshold = _probability_threshold(test_probability[kept], left)
        flagged = (nofruit_distance > distance_threshold) | (
            nofruit_probability < probability_threshold
        )
        answered = kept & (test_probability >= probability_threshold)
        score = (float(np.mean(flagged)) if flagged.size else 0.0, float(np.mean(answered)))
        if best is None or score > best[0]:
            best = (
                score,
                {
                    "distance_threshold": distance_threshold,
                    "probability_threshold": probability_threshold,
                },
            )
    assert best is not None
    return best[1]
