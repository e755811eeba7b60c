"""Time the project's fit_reduction (PCA, k from a 0.9 variance threshold) on synthetic features.

Usage: python benchmarks/pca.py [--rows 90000] [--dim 1280]. Prints k and seconds; writes
benchmarks/results/pca_<rows>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from fruits_pipeline.pipelines.reduction.nodes import fit_reduction

ROOT = Path(__file__).resolve().parents[1]
RANK = 200  # latent factors; their scales decay, so a few dozen carry most of the variance
CHUNK = 10_000


def write_features(path: str, rows: int, dim: int, seed: int = 0) -> None:
    """rows x dim float32, ReLU-like (non-negative), decaying spectrum, as array<float> parquet."""
    rng = np.random.default_rng(seed)
    scales = 1.0 / np.arange(1, RANK + 1) ** 0.8
    loadings = (rng.standard_normal((RANK, dim)) * scales[:, None]).astype(np.float32)
    offset = rng.uniform(0.0, 0.5, dim).astype(np.float32)
    schema = pa.schema([("features", pa.list_(pa.float32()))])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            factors = rng.standard_normal((n, RANK), dtype=np.float32)
            noise = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(0.05)
            x = np.maximum(factors @ loadings + offset + noise, 0).astype(np.float32)
            offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
            column = pa.ListArray.from_arrays(offsets, pa.array(x.ravel()))
            writer.write_table(pa.table({"features": column}, schema=schema))


def spark_session() -> SparkSession:
    settings = {}
    for env in ("base", "local"):
        settings.update(yaml.safe_load((ROOT / "conf" / env / "spark.yml").read_text()) or {})
    settings.update({"spark.master": "local[2]", "spark.driver.memory": "8g"})
    builder = SparkSession.builder.appName("pca-benchmark")
    for key, value in settings.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=90_000)
    parser.add_argument("--dim", type=int, default=1280)
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    with tempfile.TemporaryDirectory(prefix="pca_bench_") as tmp:
        path = os.path.join(tmp, "features.parquet")
        write_features(path, args.rows, args.dim)
        spark = spark_session()
        # Every synthetic row is a Training row: the reduction is fitted on those only.
        features = spark.read.parquet(path).withColumn("split", F.lit("Training"))
        params = {"standardize": False, "k": None, "variance_threshold": 0.9}
        start = time.perf_counter()
        model, explained = fit_reduction(features, params)
        seconds = time.perf_counter() - start
        spark.stop()

    k = model.stages[-1].getK()
    print(f"rows={args.rows} dim={args.dim} k={k} seconds={seconds:.1f}")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    report = {
        "rows": args.rows,
        "dim": args.dim,
        "k": k,
        "variance_k": float(explained["cumulative"].iloc[k - 1]),
        "seconds": seconds,
        "cpu_count": os.cpu_count(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (results / f"pca_{args.rows}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
