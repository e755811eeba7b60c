"""Scale: throughput and memory of the driver and the Python workers at N = 1k, 5k, 20.7k.

Each N runs in a fresh process (a new driver and JVM) on the first N images of a
class-round-robin walk of the complete release (Training, then Test), through the
pipeline's own functions in order: featurizer, featurize node, scaler + PCA, the CSV copy
of the components (``SparkCSVFileDataset``), the report aggregates (label counts, scatter
sample and centroids, summary) and the sample grid. It reports featurize img/s and peak
RSS (VmHWM) of the Python driver, of the driver's JVM and of the largest Python worker:
what grows with N there passes through one process. Then ``benchmarks/pca.py`` times the
PCA fit on 90,000 x 1280.

Usage: python benchmarks/scale.py [--sizes 1000,5000,20701] [--data DIR] [--weights FILE]
[--skip-pca]. Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WEIGHTS = ROOT / "data/06_models/mobilenet_v2_1.0_224_no_top.imagenet_from_slim_ckpt.weights.h5"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def pick_images(data: Path, n: int) -> list[Path]:
    """First n files of a class-round-robin walk (sorted) of Training, then Test."""
    picked: list[Path] = []
    for split in ("Training", "Test"):
        classes = [sorted(c.glob("*.jpg")) for c in sorted((data / split).iterdir()) if c.is_dir()]
        picked += [p for row in itertools.zip_longest(*classes) for p in row if p is not None]
    return picked[:n]


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants() -> dict[int, str]:
    """This process's descendants: pid -> command line."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    me, found = os.getpid(), {}
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor == me:
            try:
                found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
    return found


class PeakRss:
    """Peak RSS (kB) of the JVM and of the largest Python worker, polled every 0.5 s."""

    def __enter__(self) -> PeakRss:
        self.jvm_kb = self.worker_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def poll(self) -> None:
        for pid, cmdline in _descendants().items():
            if "pyspark.worker" in cmdline or "pyspark/worker" in cmdline:
                self.worker_kb = max(self.worker_kb, _hwm_kb(pid))
            elif "java" in cmdline.split("\0", 1)[0]:
                self.jvm_kb = max(self.jvm_kb, _hwm_kb(pid))

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.poll()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()


def run_one(folder: Path, weights: str, out: Path) -> None:
    """One N in this (fresh) process: the pipeline's steps, timed and measured."""
    import yaml  # noqa: PLC0415 - the parent process needs neither Spark nor the pipeline
    from kedro.io.core import Version  # noqa: PLC0415
    from pyspark.sql import SparkSession  # noqa: PLC0415

    from fruits_pipeline.datasets import (  # noqa: PLC0415
        ImageFolderDataset,
        SparkCSVFileDataset,
        WeightsFileDataset,
    )
    from fruits_pipeline.pipelines.featurization.featurizer import build_featurizer  # noqa: PLC0415
    from fruits_pipeline.pipelines.featurization.nodes import (  # noqa: PLC0415
        featurize_images,
        listed_files,
    )
    from fruits_pipeline.pipelines.reduction.nodes import (  # noqa: PLC0415
        fit_reduction,
        to_csv_table,
        transform_features,
    )
    from fruits_pipeline.pipelines.reporting.nodes import (  # noqa: PLC0415
        label_split_counts,
        plot_sample_grid,
        scatter_points,
    )

    settings = {}
    for env in ("base", "local"):
        settings.update(yaml.safe_load((ROOT / "conf" / env / "spark.yml").read_text()) or {})
    settings["spark.master"] = "local[2]"
    builder = SparkSession.builder.appName("scale-benchmark")
    for key, value in settings.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else value)
    params = yaml.safe_load((ROOT / "conf/base/parameters_featurization.yml").read_text())
    params = {k: v for k, v in params["featurization"].items() if k != "weights"}
    reduction = yaml.safe_load((ROOT / "conf/base/parameters_reduction.yml").read_text())

    with PeakRss() as rss:
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        images = ImageFolderDataset(filepath=str(folder), label_depth=1).load()
        featurizer = build_featurizer(WeightsFileDataset(filepath=weights).load(), params, images)
        start = time.perf_counter()
        features, _rejected = featurize_images(images, listed_files(images), featurizer, params)
        featurize_s = time.perf_counter() - start
        features.write.parquet(str(folder.parent / "features.parquet"))
        spark.catalog.clearCache()
        stored = spark.read.parquet(str(folder.parent / "features.parquet"))
        model, _explained = fit_reduction(stored, reduction["reduction"])
        transform_features(stored, model).write.parquet(str(folder.parent / "pca.parquet"))
        pca_features = spark.read.parquet(str(folder.parent / "pca.parquet"))
        SparkCSVFileDataset(
            filepath=str(folder.parent / "pca_features.csv"), version=Version(None, "scale")
        ).save(to_csv_table(pca_features))
        label_split_counts(pca_features)
        scatter_points(pca_features)
        plot_sample_grid(stored)
        total_s = time.perf_counter() - start
        rss.poll()
        spark.stop()
    result = {
        "featurize_s": featurize_s,
        "after_featurize_s": total_s - featurize_s,
        "driver_python_peak_mb": _hwm_kb(os.getpid()) / 1024,
        "driver_jvm_peak_mb": rss.jvm_kb / 1024,
        "worker_peak_mb": rss.worker_kb / 1024,
    }
    out.write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,20701")
    parser.add_argument("--data", type=Path, default=SHARED / "data/fruits360")
    parser.add_argument("--weights", default=str(WEIGHTS))
    parser.add_argument("--skip-pca", action="store_true")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: one N
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    weights = str(Path(args.weights).resolve())
    if args.one:
        run_one(args.one, weights, args.out)
        return

    rows = []
    for size in (int(size) for size in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="scale_bench_") as tmp:
            folder = Path(tmp) / "images"
            for path in pick_images(args.data, size):
                target = folder / path.parent.parent.name / path.parent.name / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            n = sum(1 for _ in folder.rglob("*.jpg"))
            out = Path(tmp) / "result.json"
            command = [sys.executable, __file__, "--one", str(folder), "--out", str(out)]
            subprocess.run([*command, "--weights", weights], check=True)
            row = {"n": n, **json.loads(out.read_text())}
            row["featurize_img_s"] = n / row["featurize_s"]
            rows.append(row)
            print(
                f"N={n}: featurize {row['featurize_img_s']:.1f} img/s, driver python "
                f"{row['driver_python_peak_mb']:.0f} MB, driver JVM "
                f"{row['driver_jvm_peak_mb']:.0f} MB, worker {row['worker_peak_mb']:.0f} MB",
                flush=True,
            )
    report = {
        "sizes": rows,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if not args.skip_pca:
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks/pca.py"), "--rows", "90000"], check=True
        )
        report["pca_90000x1280"] = json.loads(
            (ROOT / "benchmarks/results/pca_90000.json").read_text()
        )
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "scale.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'N':>7}{'img/s':>8}{'driver py MB':>14}{'driver JVM MB':>15}{'worker MB':>11}")
    for row in rows:
        print(
            f"{row['n']:>7}{row['featurize_img_s']:>8.1f}{row['driver_python_peak_mb']:>14.0f}"
            f"{row['driver_jvm_peak_mb']:>15.0f}{row['worker_peak_mb']:>11.0f}"
        )


if __name__ == "__main__":
    main()
