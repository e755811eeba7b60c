"""The "unknown" test: its distance against the covariance it stands for, and the
calibration's promise (answer at least ``accept`` of Test) on any scores."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fruits_pipeline.artifacts import LinearHead
from fruits_pipeline.engine.unknown import calibrate


def test_distance_is_the_mahalanobis_distance_of_probabilistic_pca():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 12)) * np.linspace(3, 0.2, 12) + 1.5
    mean, std = features.mean(axis=0), features.std(axis=0, ddof=1)
    scaled = (features - mean) / std
    eigenvalues, vectors = np.linalg.eigh(np.cov(scaled, rowvar=False))
    order = np.argsort(eigenvalues)[::-1]
    k = 4
    pca, kept = vectors[:, order[:k]], eigenvalues[order[:k]]
    residual_variance = eigenvalues[order[k:]].mean()
    head = LinearHead(
        mean=mean, scale=1 / std, pca=pca, component_std=np.sqrt(kept), heads={},
        class_families={}, residual_variance=float(residual_variance),
    )  # fmt: skip
    # The model's covariance: the kept eigenvalues, and the mean of the others elsewhere.
    covariance = pca @ np.diag(kept) @ pca.T + residual_variance * (np.eye(12) - pca @ pca.T)
    photos = rng.normal(size=(5, 12)) * 4
    x = (photos - mean) / std
    expected = np.sqrt(np.einsum("ij,jk,ik->i", x, np.linalg.inv(covariance), x))
    np.testing.assert_allclose(head.distance(photos), expected, rtol=1e-9)
    # Without a residual variance only the kept components count.
    plain = LinearHead(**{**head.__dict__, "residual_variance": 0.0})
    np.testing.assert_allclose(
        plain.distance(photos), np.sqrt((((x @ pca) / np.sqrt(kept)) ** 2).sum(axis=1))
    )


@settings(max_examples=200, deadline=None)
@given(
    test=st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1)), min_size=1, max_size=300),
    nofruit=st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1)), min_size=1, max_size=50),
    accept=st.floats(0.6, 1.0),
)
def test_calibration_answers_at_least_accept_of_test(test, nofruit, accept):
    test_d, test_p = (np.array(v) for v in zip(*test, strict=True))
    no_d, no_p = (np.array(v) for v in zip(*nofruit, strict=True))
    t = calibrate(test_d, test_p, no_d, no_p, accept=accept)
    answered = (test_d <= t["distance_threshold"]) & (test_p >= t["probability_threshold"])
    assert answered.mean() >= accept - 1e-9
    # It flags at least as many no-fruit photos as either test alone on the whole budget.
    flagged = np.mean((no_d > t["distance_threshold"]) | (no_p < t["probability_threshold"]))
    budget = int(np.floor(len(test_d) * (1 - accept) + 1e-9))
    by_distance = np.sort(test_d)[len(test_d) - budget - 1]
    assert flagged >= np.mean(no_d > by_distance) - 1e-12
    by_probability = np.sort(test_p)[min(budget, len(test_p) - 1)] if budget else 0.0
    assert flagged >= np.mean(no_p < by_probability) - 1e-12
