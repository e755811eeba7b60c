"""Figures for people: matplotlib figures saved as PNG by the catalog."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: figures are only written to files

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from pyspark.ml import PipelineModel


def plot_scree(
    explained_variance: pd.DataFrame,
    reduction_model: PipelineModel,
    reduction_params: dict[str, Any],
) -> Figure:
    """Cumulative explained variance per component, with the threshold and the chosen k."""
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.bar(
        explained_variance["component"], explained_variance["ratio"],
        color="tab:gray", alpha=0.5, label="per component",
    )  # fmt: skip
    ax.plot(
        explained_variance["component"], explained_variance["cumulative"],
        color="tab:blue", label="cumulative",
    )  # fmt: skip
    k = reduction_model.stages[-1].getK()
    if reduction_params.get("k") is None:
        threshold = reduction_params["variance_threshold"]
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:.0%}")
    ax.axvline(k, color="tab:green", linestyle=":", label=f"k = {k}")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax.set_ylim(0, 1.02)
    # The interesting part is around k; the long flat tail would squash it.
    ax.set_xlim(0, min(len(explained_variance), max(4 * k, 50)) + 1)
    ax.set_title("PCA of MobileNetV2 image features")
    ax.legend(loc="center right")
    fig.tight_layout()
    plt.close(fig)
    return fig
