"""Where the featurize node's time goes: CPU seconds per process kind, idle cores, task spans.

Runs the node (as ``benchmarks/featurize.py`` does) on N images: first as the first job of a
cold JVM, then in a new SparkContext (new Python workers), then a second call. For each it
samples, every second, the CPU time of the JVM, of the Python workers (and their daemon) and of
this driver, and the machine's total busy time (/proc/stat); Spark's event log gives each
task's launch, finish, run and CPU time and records.

Usage: python benchmarks/profile_featurize.py [--n 1500] [--runs cold,new,second] [--tag NAME]
[--set key=value ...] (featurization parameters, e.g. images_per_partition=256)
[--spark key=value ...]. Writes benchmarks/results/profile_<N>[_<tag>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurize import (
    ROOT,
    SHARED,
    copy_images,
    pick_images,
    run_pipeline,
)
from featurize import spark_session as benchmark_session

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds) of every process."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            continue
        found[int(stat.parent.name)] = (
            int(fields[1]),
            cmd,
            (int(fields[11]) + int(fields[12])) / TICKS,
        )
    return found


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (every process, ours or not)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICKS


def _threads(pid: int) -> dict[int, tuple[str, float]]:
    """tid -> (thread name with digits dropped, CPU seconds) of one process."""
    found = {}
    for stat in Path(f"/proc/{pid}/task").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")].rstrip("0123456789#- ")
        fields = text.rsplit(")", 1)[1].split()
        found[int(stat.parent.name)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return found


class CpuSampler:
    """CPU seconds per kind of our descendants (jvm, python workers + daemon, driver)."""

    def __init__(self, interval: float = 1.0):
        self.interval, self._stop = interval, threading.Event()
        self.seen: dict[int, tuple[str, float]] = {}
        self.timeline: list[tuple[float, int]] = []  # (t, busy workers)
        self.jvm_threads: dict[int, tuple[str, float]] = {}

    def _kind(self, pid, procs) -> str | None:
        me = os.getpid()
        if pid == me:
            return "driver_python"
        ancestor = procs[pid][0]
        while ancestor and ancestor != me:
            ancestor = procs.get(ancestor, (0,))[0]
        if ancestor != me:
            return None
        cmd = procs[pid][1]
        if "java" in cmd.split("\0")[0]:
            return "jvm"
        if "pyspark.worker" in cmd or "spark_daemon" in cmd or "pyspark.daemon" in cmd:
            return "python_workers"
        return "other"

    def sample(self) -> dict[int, tuple[str, float]]:
        procs = _processes()
        now = {}
        for pid in procs:
            kind = self._kind(pid, procs)
            if kind:
                now[pid] = (kind, procs[pid][2])
            if kind == "jvm":
                self.jvm_threads.update(_threads(pid))
        return now

    def __enter__(self) -> CpuSampler:
        self.start_seen = self.sample()
        self.start_threads = dict(self.jvm_threads)
        self.t0, self.busy0 = time.perf_counter(), _machine_busy()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        last = dict(self.start_seen)
        while not self._stop.wait(self.interval):
            now = self.sample()
            self.seen.update(now)
            workers = sum(
                now[p][1] - last.get(p, (None, 0.0))[1]
                for p in now
                if now[p][0] == "python_workers"
            )
            self.timeline.append(
                (round(time.perf_counter() - self.t0, 2), round(workers / self.interval, 2))
            )
            last = now

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seen.update(self.sample())
        self.wall = time.perf_counter() - self.t0
        self.machine_busy = _machine_busy() - self.busy0

    def report(self) -> dict:
        cpu: dict[str, float] = {}
        for pid, (kind, total) in self.seen.items():
            before = self.start_seen.get(pid, (kind, 0.0))[1]
            cpu[kind] = cpu.get(kind, 0.0) + total - before
        ours = sum(cpu.values())
        threads: dict[str, float] = {}
        for tid, (name, total) in self.jvm_threads.items():
            before = self.start_threads.get(tid, (name, 0.0))[1]
            threads[name] = threads.get(name, 0.0) + total - before
        cores = os.cpu_count() or 1
        return {
            "wall_s": round(self.wall, 2),
            "cpu_s": {k: round(v, 2) for k, v in sorted(cpu.items())},
            "ours_cpu_s": round(ours, 2),
            "jvm_threads_cpu_s": {
                k: round(v, 2)
                for k, v in sorted(threads.items(), key=lambda kv: -kv[1])
                if v >= 0.05
            },
            "machine_busy_s": round(self.machine_busy, 2),
            "others_cpu_s": round(self.machine_busy - ours, 2),
            "idle_core_s": round(cores * self.wall - self.machine_busy, 2),
            "workers_busy_cores_timeline": self.timeline,
        }


def spark_session(events: str, extra: dict[str, str]):
    """The benchmark's session (conf/base + conf/local, local[2]) with an event log."""
    logged = {"spark.eventLog.enabled": True, "spark.eventLog.dir": events}
    return benchmark_session({**logged, "spark.eventLog.compress": False, **extra})


def task_spans(event_file: Path) -> list[dict]:
    """Per stage: tasks' launch/finish (s from the stage's first launch), run and CPU time."""
    stages: dict[tuple[int, int], list[dict]] = {}
    names = {}
    parts = sorted(event_file.iterdir()) if event_file.is_dir() else [event_file]
    for line in (row for part in parts for row in part.read_text().splitlines()):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a header or a line cut short
            continue
        if event["Event"] == "SparkListenerStageSubmitted":
            info = event["Stage Info"]
            names[info["Stage ID"]] = info["Stage Name"]
        if event["Event"] != "SparkListenerTaskEnd":
            continue
        info, metrics = event["Task Info"], event.get("Task Metrics") or {}
        stages.setdefault((event["Stage ID"], event["Stage Attempt ID"]), []).append(
            {
                "launch": info["Launch Time"] / 1000,
                "finish": info["Finish Time"] / 1000,
                "run_s": metrics.get("Executor Run Time", 0) / 1000,
                "jvm_cpu_s": metrics.get("Executor CPU Time", 0) / 1e9,
                "records": (metrics.get("Input Metrics") or {}).get("Records Read", 0),
            }
        )
    out = []
    for (stage, _attempt), tasks in sorted(stages.items()):
        first = min(t["launch"] for t in tasks)
        last = max(t["finish"] for t in tasks)
        out.append(
            {
                "stage": stage,
                "name": names.get(stage, "")[:60],
                "span_s": round(last - first, 2),
                "tasks": [
                    {
                        "launch": round(t["launch"] - first, 2),
                        "finish": round(t["finish"] - first, 2),
                        "run_s": round(t["run_s"], 2),
                        "jvm_cpu_s": round(t["jvm_cpu_s"], 2),
                        "records": t["records"],
                    }
                    for t in sorted(tasks, key=lambda t: t["launch"])
                ],
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--runs", default="cold,new,second")
    parser.add_argument("--tag", default="")
    parser.add_argument("--set", action="append", default=[], help="featurization key=value")
    parser.add_argument("--spark", action="append", default=[], help="Spark key=value")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    weights = str(SHARED / "weights/mobilenet_v2_1.0_224_no_top.imagenet_from_slim_ckpt.weights.h5")
    params = yaml.safe_load((ROOT / "conf/base/parameters_featurization.yml").read_text())
    params = {**params["featurization"], "weights": weights}
    for item in args.set:
        key, value = item.split("=", 1)
        params[key] = yaml.safe_load(value)
    extra = dict(item.split("=", 1) for item in args.spark)
    runs = args.runs.split(",")
    results: dict = {"n": args.n, "params": {k: v for k, v in params.items() if k != "weights"}}
    results["spark"] = extra
    with tempfile.TemporaryDirectory(prefix="featurize_profile_") as tmp:
        images = os.path.join(tmp, "images")
        copy_images(pick_images(SHARED / "data/fruits360", args.n), Path(images))
        events = os.path.join(tmp, "events")
        os.makedirs(events)
        spark = None
        for run in runs:
            if run in ("cold", "new") or spark is None:
                if spark is not None:
                    spark.stop()
                spark, settings = spark_session(events, extra)
            before = set(Path(events).iterdir())
            cpu = CpuSampler()
            seconds = run_pipeline(spark, settings, images, os.path.join(tmp, run), params, cpu)
            report = cpu.report()
            report["node_s"] = round(seconds, 2)
            report["epoch_end"] = time.time()
            report["epoch_start"] = report["epoch_end"] - cpu.wall
            report["images_per_s"] = round(args.n / seconds, 1)
            results[run] = report
            print(
                f"{run}: {seconds:.1f} s, {args.n / seconds:.1f} img/s, cpu {report['cpu_s']}, "
                f"others {report['others_cpu_s']}, idle {report['idle_core_s']}\n"
                f"  jvm threads {report['jvm_threads_cpu_s']}",
                flush=True,
            )
            results[run]["_events_before"] = sorted(str(p) for p in before)
        spark.stop()
        files = sorted(Path(events).iterdir(), key=lambda p: p.stat().st_mtime)
        results["event_logs"] = [task_spans(f) for f in files]
    for run in runs:
        results[run].pop("_events_before", None)
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / f"profile_{args.n}{'_' + args.tag if args.tag else ''}.json"
    )
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
