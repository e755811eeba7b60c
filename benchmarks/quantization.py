"""Quantized featurizers vs float32: speed, feature similarity and the classifier's accuracy.

For each backend (tflite float32, tflite_fp16, tflite_int8; int8 calibrated on the run's
Training images exactly as ``build_featurizer`` does it):

- speed (``--parts speed``; run it alone on the machine): img/s of decode + inference with
  one process per core on ``--speed-n`` Test images, and of inference alone (the time
  inside the model), the backends side by side in one run, best of two rounds in
  alternating order;
- accuracy (``--parts accuracy``): features of every image of the release, their cosine
  similarity to float32 on the Test split (mean, min), and the Test accuracy of scaler +
  PCA + logistic regression trained the pipeline's way (its own node functions, default
  parameters) on each backend's Training features: the change in points vs float32.

Usage: python benchmarks/quantization.py [--data DIR] [--weights FILE] [--speed-n 1000]
[--parts speed,accuracy]. Writes (merges into) benchmarks/results/quantization.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pyspark.sql import SparkSession

from fruits_pipeline.datasets import ImageFolderDataset, WeightsFileDataset
from fruits_pipeline.pipelines.classification.nodes import evaluate_classifier, train_classifier
from fruits_pipeline.pipelines.featurization.featurizer import build_featurizer
from fruits_pipeline.pipelines.featurization.model import (
    FEATURE_DIM,
    TFLiteRunner,
    decode_image,
    preprocess,
)
from fruits_pipeline.pipelines.reduction.nodes import fit_reduction, transform_features

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BACKENDS = ("tflite", "tflite_fp16", "tflite_int8")
CHUNK = 64

_worker: dict = {}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def class_round_robin(data: Path, split: str) -> list[Path]:
    """Every file of a split, classes interleaved (so any prefix covers every class)."""
    classes = [sorted(c.glob("*.jpg")) for c in sorted((data / split).iterdir()) if c.is_dir()]
    return [p for row in itertools.zip_longest(*classes) for p in row if p is not None]


def _init(featurizer, barrier) -> None:
    runner = TFLiteRunner(featurizer, 1)
    size = featurizer.image_size
    runner(preprocess(np.zeros((1, size, size, 3), np.uint8)))  # plan the graph untimed
    _worker.update(runner=runner, featurizer=featurizer)
    if barrier is not None:
        barrier.wait()


def _features(paths: list[str]) -> tuple[np.ndarray, float]:
    """Decode + featurize one chunk as the node does (batch 1); seconds inside the model."""
    runner, featurizer = _worker["runner"], _worker["featurizer"]
    out = np.empty((len(paths), FEATURE_DIM), np.float32)
    inference = 0.0
    for i, path in enumerate(paths):
        image = decode_image(
            Path(path).read_bytes(), featurizer.image_size, featurizer.resize_filter
        )
        start = time.perf_counter()
        out[i] = runner(preprocess(image[None]))[0]
        inference += time.perf_counter() - start
    return out, inference


def featurize_files(featurizer, files: list[Path], timed: bool = False):
    """Features of ``files`` with one process per core; (features, wall s, inference s)."""
    processes = os.cpu_count() or 1
    context = mp.get_context("spawn")  # no fork of a process that holds a JVM gateway
    barrier = context.Barrier(processes + 1) if timed else None
    chunks = [[str(p) for p in files[i : i + CHUNK]] for i in range(0, len(files), CHUNK)]
    with context.Pool(processes, initializer=_init, initargs=(featurizer, barrier)) as pool:
        if barrier is not None:
            barrier.wait()  # every worker has planned its graph
        start = time.perf_counter()
        results = pool.map(_features, chunks, chunksize=1)
        wall = time.perf_counter() - start
    features = np.concatenate([r[0] for r in results])
    inference = sum(r[1] for r in results) / processes
    return features, wall, inference


def spark_session() -> SparkSession:
    settings = {}
    for env in ("base", "local"):
        settings.update(yaml.safe_load((ROOT / "conf" / env / "spark.yml").read_text()) or {})
    settings.update({"spark.master": "local[2]", "spark.driver.memory": "6g"})
    builder = SparkSession.builder.appName("quantization-benchmark")
    for key, value in settings.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def build_featurizers(data: Path, weights: str, params: dict) -> dict:
    """Each backend's featurizer by the node itself (int8: calibrated on Training images)."""
    images = ImageFolderDataset(filepath=str(data), label_depth=1).load()
    loaded = WeightsFileDataset(filepath=weights).load()
    return {b: build_featurizer(loaded, {**params, "backend": b}, images) for b in BACKENDS}


def measure_speed(featurizers: dict, data: Path, n: int) -> dict:
    files = class_round_robin(data, "Test")[:n]
    best: dict[str, dict] = {}
    for order in (BACKENDS, BACKENDS[::-1]):  # alternate, best of two: no order effect
        for backend in order:
            _, wall, inference = featurize_files(featurizers[backend], files, timed=True)
            rates = {"featurize_img_s": n / wall, "inference_img_s": n / inference}
            print(f"{backend:<12} featurize {rates['featurize_img_s']:7.1f} img/s, "
                  f"inference alone {rates['inference_img_s']:7.1f} img/s", flush=True)  # fmt: skip
            kept = best.setdefault(backend, {})
            for key, value in rates.items():
                kept[key] = max(kept.get(key, 0.0), value)
    for backend in BACKENDS:
        best[backend]["featurize_vs_float32"] = (
            best[backend]["featurize_img_s"] / best["tflite"]["featurize_img_s"]
        )
        best[backend]["inference_vs_float32"] = (
            best[backend]["inference_img_s"] / best["tflite"]["inference_img_s"]
        )
    return {"n_images": n, "processes": os.cpu_count(), "backends": best}


def pipeline_accuracy(spark, table: pd.DataFrame, features: np.ndarray) -> tuple[float, int]:
    """Scaler + PCA + logistic regression with the pipeline's nodes and default parameters."""
    params = yaml.safe_load((ROOT / "conf/base/parameters_reduction.yml").read_text())
    classification = yaml.safe_load((ROOT / "conf/base/parameters_classification.yml").read_text())
    with tempfile.TemporaryDirectory(prefix="quant_bench_") as tmp:
        frame = table.assign(features=list(features.astype(np.float32)))
        path = os.path.join(tmp, "features.parquet")
        frame.to_parquet(path)
        image_features = spark.read.parquet(path)
        reduction, _explained = fit_reduction(image_features, params["reduction"])
        pca_features = transform_features(image_features, reduction).cache()
        classifier = train_classifier(pca_features, classification["classification"])
        metrics, _figure = evaluate_classifier(pca_features, classifier)
        pca_features.unpersist()
    return metrics["accuracy"], int(reduction.stages[-1].getK())


def measure_accuracy(featurizers: dict, data: Path, cache: Path) -> dict:
    files = {split: class_round_robin(data, split) for split in ("Training", "Test")}
    paths = files["Training"] + files["Test"]
    table = pd.DataFrame(
        {
            "path": [str(p) for p in paths],
            "label": [p.parent.name for p in paths],
            "split": ["Training"] * len(files["Training"]) + ["Test"] * len(files["Test"]),
            "source": "fruits-360",
            "family": [p.parent.name.split(" ", 1)[0] for p in paths],
        }
    )
    features = {}
    for backend, featurizer in featurizers.items():
        stored = cache / f"features_{featurizer.fingerprint}_{len(paths)}.npy"
        if stored.is_file():
            features[backend] = np.load(stored)
        else:
            features[backend], wall, _inference = featurize_files(featurizer, paths)
            np.save(stored, features[backend])
            print(f"{backend}: featurized {len(paths)} images in {wall:.0f} s", flush=True)
    test = (table["split"] == "Test").to_numpy()
    spark = spark_session()
    report = {"n_training": int((~test).sum()), "n_test": int(test.sum()), "backends": {}}
    reference = features["tflite"][test]
    for backend in BACKENDS:
        got = features[backend][test]
        cosine = (got * reference).sum(axis=1) / (
            np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1)
        )
        accuracy, k = pipeline_accuracy(spark, table, features[backend])
        report["backends"][backend] = {
            "cosine_to_float32_mean": float(cosine.mean()),
            "cosine_to_float32_min": float(cosine.min()),
            "test_accuracy": accuracy,
            "k": k,
        }
        print(f"{backend:<12} cosine mean {cosine.mean():.5f} min {cosine.min():.5f}, "
              f"Test accuracy {accuracy:.4f} (k={k})", flush=True)  # fmt: skip
    spark.stop()
    base = report["backends"]["tflite"]["test_accuracy"]
    for values in report["backends"].values():
        values["accuracy_change_points"] = 100 * (values["test_accuracy"] - base)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED / "data/fruits360")
    parser.add_argument(
        "--weights",
        default=str(ROOT / "data/06_models/mobilenet_v2_1.0_224_no_top.imagenet_from_slim_ckpt"
                    ".weights.h5"),
    )  # fmt: skip
    parser.add_argument("--speed-n", type=int, default=1000)
    parser.add_argument("--parts", default="speed,accuracy")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "quant_bench")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    parts = set(args.parts.split(","))
    args.cache.mkdir(parents=True, exist_ok=True)

    params = yaml.safe_load((ROOT / "conf/base/parameters_featurization.yml").read_text())
    params = {k: v for k, v in params["featurization"].items() if k != "weights"}
    spark_session()
    featurizers = build_featurizers(args.data, str(Path(args.weights).resolve()), params)
    SparkSession.getActiveSession().stop()

    out = ROOT / "benchmarks" / "results" / "quantization.json"
    report = json.loads(out.read_text()) if out.is_file() else {}
    report.update(
        data=str(args.data),
        featurizers={
            b: {
                "fingerprint": f.fingerprint,
                "size_bytes": len(f.payload),
                "calibration": f.calibration,
            }
            for b, f in featurizers.items()
        },
    )
    machine = {"cpu": cpu_model(), "cpu_count": os.cpu_count()}
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if "speed" in parts:
        report["speed"] = {**measure_speed(featurizers, args.data, args.speed_n), **machine,
                           "timestamp": stamp}  # fmt: skip
    if "accuracy" in parts:
        report["accuracy"] = {**measure_accuracy(featurizers, args.data, args.cache),
                              "timestamp": stamp}  # fmt: skip
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'backend':<12}{'MB':>6}{'img/s':>9}{'infer/s':>9}{'cos mean':>10}{'cos min':>9}"
          f"{'acc':>8}{'Δ pts':>7}")  # fmt: skip
    for backend in BACKENDS:
        speed = report.get("speed", {}).get("backends", {}).get(backend, {})
        acc = report.get("accuracy", {}).get("backends", {}).get(backend, {})
        print(
            f"{backend:<12}{report['featurizers'][backend]['size_bytes'] / 1e6:>6.1f}"
            f"{speed.get('featurize_img_s', float('nan')):>9.1f}"
            f"{speed.get('inference_img_s', float('nan')):>9.1f}"
            f"{acc.get('cosine_to_float32_mean', float('nan')):>10.5f}"
            f"{acc.get('cosine_to_float32_min', float('nan')):>9.5f}"
            f"{acc.get('test_accuracy', float('nan')):>8.4f}"
            f"{acc.get('accuracy_change_points', float('nan')):>7.2f}"
        )


if __name__ == "__main__":
    main()
