"""Featurization throughput: the machine's limit vs the seeds' Spark UDF vs the project's node.

The limit, measured in the same run: (a) TFLite inference alone on decoded tensors, the best
img/s over batch x threads x concurrently running interpreters with every core busy; (b)
read + decode + resize alone, one process per core; limit = 1 / (1/(a) + 1/(b)).

The seed and the pipeline are compared on equal terms: each runs in a new SparkContext
(new Python workers) of a JVM that has already run one model-free Python UDF job. The
node's time as the very first job of a cold JVM is reported too (``pipeline_first_job``).

Usage: python benchmarks/featurize.py [--n 2000] [--data DIR] [--weights FILE] [--backend NAME]
[--skip-seed] [--test-first] [--tag NAME] [--skip-limit] [--spark KEY=VALUE]
[--ab NAME:KEY=VALUE[;KEY=VALUE]] [--ab-rounds 2]. ``--test-first --n 5195`` measures exactly
the complete set's Test split (5,195 images); the warm-up images then come from Training.
``--ab`` times the node with other featurization parameters or Spark settings against the
current ones in this process, each run in a new SparkContext, alternating (``ab_seconds``);
settings of the JVM itself (``spark.driver.extraJavaOptions``) need one process each: ``--spark``.
Prints a table and, last, ``limit=<img/s> pipeline=<img/s> vs_limit=<ratio> vs_seed=<ratio>``;
writes benchmarks/results/featurize_<N>[_<tag>].json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pyspark.sql import SparkSession
from pyspark.sql.functions import pandas_udf

from fruits_pipeline.datasets import ImageFolderDataset, WeightsFileDataset
from fruits_pipeline.pipelines.featurization.featurizer import build_featurizer
from fruits_pipeline.pipelines.featurization.model import (
    TFLiteRunner,
    decode_image,
    preprocess,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
LIMIT_BATCHES = (1, 2, 4, 8, 16)
WARM_UP_N = 200
MAX_RECORDS = "spark.sql.execution.arrow.maxRecordsPerBatch"


def pick_images(data: Path, n: int, splits: tuple[str, ...] = ("Training", "Test")) -> list[Path]:
    """First n files of a class-round-robin walk (sorted) of each split in turn."""
    picked: list[Path] = []
    for split in splits:
        classes = [sorted(c.glob("*.jpg")) for c in sorted((data / split).iterdir()) if c.is_dir()]
        for row in itertools.zip_longest(*classes):
            picked.extend(p for p in row if p is not None)
    if len(picked) < n:
        raise SystemExit(f"only {len(picked)} images under {data}, asked for {n}")
    return picked[:n]


def copy_images(files: list[Path], dest: Path) -> None:
    for src in files:
        target = dest / src.parent.parent.name / src.parent.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target / src.name)


def _inference_worker(weights, threads, files, per_config, barrier, results) -> None:
    """One interpreter process: img/s at each batch size, timed while its peers run too."""
    weights_file = WeightsFileDataset(filepath=weights).load()
    featurizer = build_featurizer(weights_file, {"backend": "tflite"})
    tensors = preprocess(np.stack([decode_image(Path(f).read_bytes(), 224) for f in files]))
    rates = {}
    for batch in LIMIT_BATCHES:
        runner = TFLiteRunner(featurizer, threads)  # a fresh plan for this batch shape
        runner(tensors[:batch])  # warm-up
        barrier.wait()  # every interpreter starts timing together: every core busy
        done, start = 0, time.perf_counter()
        while done < per_config:
            first = done % (len(tensors) - batch + 1)
            runner(tensors[first : first + batch])
            done += batch
        rates[batch] = done / (time.perf_counter() - start)
    results.put(rates)


def measure_inference(files: list[Path], weights: str, per_config: int) -> dict[str, float]:
    """img/s of TFLite inference alone on decoded tensors, per batch x threads x interpreters
    (interpreters x threads = cores), summed over the interpreters running concurrently."""
    import multiprocessing as mp  # noqa: PLC0415

    cores = os.cpu_count() or 1
    context = mp.get_context("spawn")  # no TensorFlow state inherited by fork
    sample = [str(f) for f in files[: max(LIMIT_BATCHES) * 2]]
    rates = {}
    for interpreters in (i for i in range(1, cores + 1) if cores % i == 0):
        threads = cores // interpreters
        barrier, results = context.Barrier(interpreters), context.Queue()
        workers = [
            context.Process(
                target=_inference_worker,
                args=(weights, threads, sample, per_config, barrier, results),
            )
            for _ in range(interpreters)
        ]
        for worker in workers:
            worker.start()
        per_worker = [results.get() for _ in workers]
        for worker in workers:
            worker.join()
        for batch in LIMIT_BATCHES:
            rates[f"inference_b{batch}_t{threads}_x{interpreters}"] = sum(
                r[batch] for r in per_worker
            )
    return rates


def _decode_file(path: str) -> None:
    decode_image(Path(path).read_bytes(), 224)


def measure_decode(files: list[Path]) -> float:
    """img/s of read + decode + resize alone, one process per core."""
    import multiprocessing as mp  # noqa: PLC0415

    with mp.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        pool.map(_decode_file, [str(f) for f in files[:64]])  # workers up and imported
        start = time.perf_counter()
        pool.map(_decode_file, [str(f) for f in files], chunksize=16)
        return len(files) / (time.perf_counter() - start)


# --spark key=value: Spark settings over conf/base + conf/local, for every session of the run.
SPARK_OVERRIDES: dict[str, str] = {}


def spark_session(extra: dict[str, str] | None = None):
    settings = {}
    for env in ("base", "local"):
        settings.update(yaml.safe_load((ROOT / "conf" / env / "spark.yml").read_text()) or {})
    settings["spark.master"] = "local[2]"
    settings.update({**SPARK_OVERRIDES, **(extra or {})})
    builder = SparkSession.builder.appName("featurize-benchmark")
    for key, value in settings.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark, settings


def _mobilenet(weights):
    import keras  # noqa: PLC0415

    return keras.applications.MobileNetV2(
        weights=weights, include_top=False, pooling="avg", input_shape=(224, 224, 3)
    )


def run_seed(spark, folder: str, out: str, weights: str) -> float:
    """The seeds' code as written: binaryFile -> repartition(20) -> scalar-iterator pandas
    UDF that builds the Keras model from broadcast weights at each iterator call (each
    task) and calls model.predict per batch. Nothing else cached."""
    start = time.perf_counter()
    weights_broadcast = spark.sparkContext.broadcast(_mobilenet(weights).get_weights())

    @pandas_udf("array<float>")
    def features(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        from keras.applications.mobilenet_v2 import preprocess_input  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415

        model = _mobilenet(None)
        model.set_weights(weights_broadcast.value)
        for contents in batches:
            batch = np.stack(
                [
                    np.asarray(Image.open(io.BytesIO(c)).convert("RGB").resize((224, 224)))
                    for c in contents
                ]
            ).astype(np.float32)
            yield pd.Series(list(model.predict(preprocess_input(batch), verbose=0)))

    spark.conf.unset(MAX_RECORDS)  # Spark's default, 10000
    images = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(folder)
    images.repartition(20).select("path", features("content").alias("features")).write.mode(
        "overwrite"
    ).parquet(out)
    return time.perf_counter() - start


def _worker_hwm_kb() -> int:
    """Max VmHWM (kB) over this process's descendants that are Spark Python workers."""
    parents, best = {}, 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    me = os.getpid()
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor != me:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            # Daemon and forked workers: `python -m <daemon module> pyspark.worker`.
            if "pyspark.worker" not in cmdline and "pyspark/worker" not in cmdline:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best


class RssPoller:
    """Polls the workers' peak RSS every 0.5 s from a background thread."""

    def __enter__(self) -> RssPoller:
        self.peak_kb, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, _worker_hwm_kb())
            if self._stop.wait(0.5):
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, _worker_hwm_kb())


def run_pipeline(spark, settings, folder: str, out: str, params: dict, around=None) -> float:
    """The project's featurizer and featurize nodes on raw_images, features written to parquet
    (the featurizer's build - weights read, TFLite cache hit - is timed with the node, as it
    was when the node built it). ``around``: a context manager around the timed part."""
    from fruits_pipeline.pipelines.featurization.nodes import (  # noqa: PLC0415
        featurize_images,
        listed_files,
    )

    spark.conf.set(MAX_RECORDS, str(settings[MAX_RECORDS]))
    raw = ImageFolderDataset(filepath=folder).load()
    settings_only = {k: v for k, v in params.items() if k != "weights"}
    with around or contextlib.nullcontext():
        start = time.perf_counter()
        featurizer = build_featurizer(
            WeightsFileDataset(filepath=params["weights"]).load(), settings_only
        )
        features, _rejected = featurize_images(raw, listed_files(raw), featurizer, settings_only)
        features.write.mode("overwrite").parquet(out)
        return time.perf_counter() - start


def peak_rss_on(files: list[Path], folder: Path, params: dict) -> int:
    """Workers' peak RSS (kB) running the node on ``files``, in a new Spark session."""
    copy_images(files, folder)
    spark, settings = spark_session()
    with RssPoller() as rss:
        run_pipeline(spark, settings, str(folder), f"{folder}_out", params)
    spark.stop()
    return rss.peak_kb


def warm_up_jvm(spark, folder: str, out: str) -> None:
    """One model-free Python UDF job (binaryFile scan -> Arrow -> Python -> parquet).

    The JVM compiles and loads these code paths once per process, whichever job runs
    first (measured: the first such job is 5-8 s slower). Paying that here puts the
    seed and the pipeline on the same footing; each still starts its own Python workers.
    """

    @pandas_udf("int")
    def byte_count(contents: pd.Series) -> pd.Series:
        return contents.map(len)

    images = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(folder)
    images.select("path", byte_count("content").alias("bytes")).write.parquet(out)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=SHARED / "data/fruits360")
    parser.add_argument(
        "--weights",
        default=str(
            SHARED / "weights/mobilenet_v2_1.0_224_no_top.imagenet_from_slim_ckpt.weights.h5"
        ),
    )
    parser.add_argument("--backend", default="default-from-params")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument(
        "--test-first", action="store_true", help="pick the Test split's images first"
    )
    parser.add_argument("--tag", default="", help="results file: featurize_<N>[_<tag>].json")
    parser.add_argument(
        "--limit-images", type=int, default=512, help="images per interpreter per limit config"
    )
    parser.add_argument(
        "--rss-check", action="store_true", help="also run the node on 4x N with fresh workers"
    )
    parser.add_argument("--skip-limit", action="store_true", help="no inference/decode runs")
    parser.add_argument(
        "--spark", action="append", default=[], metavar="KEY=VALUE",
        help="a Spark setting over conf/base + conf/local for every session (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--ab", action="append", default=[], metavar="NAME:KEY=VALUE[;KEY=VALUE]",
        help="an alternative configuration (featurization parameters, or spark.* settings of "
        "its new SparkContext) timed against the current one, alternating, in this process",
    )  # fmt: skip
    parser.add_argument("--ab-rounds", type=int, default=2)
    return parser.parse_args()


def parse_ab(items: list[str]) -> dict[str, tuple[dict, dict]]:
    """``name:key=value;key=value`` -> {name: (featurization parameters, Spark settings)}."""
    configs = {}
    for item in items:
        name, _, body = item.partition(":")
        params, spark = {}, {}
        for pair in filter(None, body.split(";")):
            key, _, value = pair.partition("=")
            if key.startswith("spark."):
                spark[key] = value
            else:
                params[key] = yaml.safe_load(value)
        configs[name] = (params, spark)
    return configs


def measure_ab(tmp: str, params: dict, configs: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds of the node per configuration ("current" and each alternative), each run in a
    new SparkContext (new Python workers) of this warm JVM, the order alternating by round."""
    images_dir = os.path.join(tmp, "images")
    names = ["current", *configs]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            extra_params, extra_spark = configs.get(name, ({}, {}))
            spark, settings = spark_session(extra_spark)
            out = os.path.join(tmp, f"ab_{name}")
            seconds[name].append(
                run_pipeline(spark, settings, images_dir, out, {**params, **extra_params})
            )
            spark.stop()
    return seconds


def measure_spark(tmp: str, params: dict, weights: str, skip_seed: bool):
    """Seconds of the Spark runs on ``tmp``/images, and the pipeline workers' peak RSS (kB)."""
    images_dir = os.path.join(tmp, "images")
    seconds = {}
    # 1. For the record: the node as the first Spark job of a fresh process (cold JVM).
    spark, settings = spark_session()
    seconds["pipeline_first_job"] = run_pipeline(
        spark, settings, images_dir, os.path.join(tmp, "first_job"), params
    )
    warm_up_jvm(spark, os.path.join(tmp, "warm_up"), os.path.join(tmp, "warm_up_out"))
    spark.stop()

    # 2. The compared runs: each in a new SparkContext (its own, new Python workers) of
    #    the same warmed-up JVM.
    spark, settings = spark_session()
    with RssPoller() as rss:
        seconds["pipeline"] = run_pipeline(
            spark, settings, images_dir, os.path.join(tmp, "pipeline"), params
        )
    # Second call: Python workers already up, as in any run past its first minute.
    seconds["pipeline_warm"] = run_pipeline(
        spark, settings, images_dir, os.path.join(tmp, "pipeline_warm"), params
    )
    spark.stop()
    if not skip_seed:
        spark, _ = spark_session()
        seconds["seed"] = run_seed(spark, images_dir, os.path.join(tmp, "seed"), weights)
        spark.stop()
    return seconds, rss.peak_kb


def main() -> None:
    args = parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    weights = str(Path(args.weights).resolve())

    SPARK_OVERRIDES.update(item.split("=", 1) for item in args.spark)
    ab_configs = parse_ab(args.ab)
    params = yaml.safe_load((ROOT / "conf/base/parameters_featurization.yml").read_text())
    params = {**params["featurization"], "weights": weights}
    if args.backend != "default-from-params":
        params["backend"] = args.backend

    # N measured images, then WARM_UP_N others for the JVM warm-up (and 4N for the RSS check).
    splits = ("Test", "Training") if args.test_first else ("Training", "Test")
    files = pick_images(
        args.data, max(args.n + WARM_UP_N, 4 * args.n if args.rss_check else 0), splits
    )
    with tempfile.TemporaryDirectory(prefix="featurize_bench_") as tmp:
        copy_images(files[: args.n], Path(tmp) / "images")
        copy_images(files[args.n : args.n + WARM_UP_N], Path(tmp) / "warm_up")
        if args.skip_limit:
            inference, decode = {"not measured": math.nan}, math.nan
        else:
            inference = measure_inference(files[: args.n], weights, args.limit_images)
            decode = measure_decode(files[: args.n])
        seconds, rss_kb = measure_spark(tmp, params, weights, args.skip_seed)
        ab_seconds = measure_ab(tmp, params, ab_configs, args.ab_rounds) if ab_configs else {}
        rss_4n_kb = (
            peak_rss_on(files[: 4 * args.n], Path(tmp) / "images_4n", params)
            if args.rss_check
            else None
        )

    rate = {name: args.n / s for name, s in seconds.items()}
    best_inference = max(inference, key=inference.get)
    # Decode and inference share the cores: per image, their times add up.
    rate["limit"] = 1 / (1 / inference[best_inference] + 1 / decode)
    vs_limit = rate["pipeline"] / rate["limit"]
    vs_seed = rate["pipeline"] / rate["seed"] if "seed" in rate else math.nan

    print(f"{'name':<18}{'images':>8}{'seconds':>10}{'img/s':>10}")
    for name in seconds:
        print(f"{name:<18}{args.n:>8}{seconds[name]:>10.1f}{rate[name]:>10.1f}")
    for name, runs in ab_seconds.items():
        rates = [args.n / t for t in runs]
        print(
            f"ab {name:<14} img/s {' '.join(f'{r:.1f}' for r in rates)}  mean "
            f"{sum(rates) / len(rates):.1f}  x current "
            f"{sum(rates) / sum(args.n / t for t in ab_seconds['current']):.3f}"
        )
    print(f"inference alone: {inference[best_inference]:.1f} img/s ({best_inference})")
    print(f"decode + resize alone: {decode:.1f} img/s ({os.cpu_count()} processes)")
    print(f"pipeline workers peak RSS (max VmHWM): {rss_kb / 1024:.0f} MB at N={args.n}")
    if rss_4n_kb is not None:
        print(f"pipeline workers peak RSS (max VmHWM): {rss_4n_kb / 1024:.0f} MB at N={4 * args.n}")
    for name in ("pipeline_first_job", "pipeline_warm"):
        print(
            f"{name}: vs_limit={rate[name] / rate['limit']:.2f}"
            + (f" vs_seed={rate[name] / rate['seed']:.2f}" if "seed" in rate else "")
        )

    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    report = {
        "n": args.n,
        "images": f"first {args.n} of {' then '.join(splits)} (class round-robin)",
        "images_per_s": rate,
        "seconds": seconds,
        "ab_seconds": ab_seconds,
        "ab_configs": args.ab,
        "spark_overrides": SPARK_OVERRIDES,
        "vs_limit": vs_limit,
        "vs_seed": None if math.isnan(vs_seed) else vs_seed,
        "inference_images_per_s": inference,
        "best_inference": best_inference,
        "decode_images_per_s": decode,
        "rss_mb": rss_kb / 1024,
        "rss_mb_4n": None if rss_4n_kb is None else rss_4n_kb / 1024,
        "backend": params["backend"],
        "cpu_count": os.cpu_count(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    name = f"featurize_{args.n}{'_' + args.tag if args.tag else ''}.json"
    (results / name).write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"limit={rate['limit']:.1f} pipeline={rate['pipeline']:.1f} "
        f"vs_limit={vs_limit:.2f} vs_seed={vs_seed:.2f}"
    )


if __name__ == "__main__":
    main()
