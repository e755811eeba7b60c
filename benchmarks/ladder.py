"""The engine's ladder: which training images buy what on real photos (a measurement).

Usage: python benchmarks/ladder.py [--photos ../shared/data/real_photos_dev/photos]
[--env local]. Reads the newest complete ``image_features`` of a run that had every
training source and both kinds of composites (``make run-full``: Fruits-360 +
real_photos_train, ``augmentation.enabled`` true), then, for each rung, keeps a subset of
its Training rows and refits the pipeline's own nodes on it with the run's parameters:
scaler + PCA (``fit_reduction``), class and family heads (``train_classifier``,
``train_family_classifier``), the numpy head (``build_linear_head``) and the per-source
Test figures (``evaluate_sources``). The Test rows are the same in every rung.

Each rung is scored on the real dev photos (family top-1 and top-3, 95% Wilson intervals),
featurized once by the run's own featurizer (the newest bundle's, checked against the
features' fingerprint). The dev photos measure; they never train or choose anything.
Writes benchmarks/results/ladder.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path

import numpy as np
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pyspark.sql import functions as F
from real_photos import SUFFIXES, share

from fruits_pipeline.engine.predictor import Predictor, find_bundle
from fruits_pipeline.pipelines.classification.nodes import (
    SkippedClassifier,
    evaluate_classifier,
    train_classifier,
    train_family_classifier,
)
from fruits_pipeline.pipelines.featurization.model import decode_image
from fruits_pipeline.pipelines.featurization.nodes import COMPOSITE_PREFIX
from fruits_pipeline.pipelines.recognition.nodes import build_linear_head, evaluate_sources
from fruits_pipeline.pipelines.reduction.nodes import fit_reduction, transform_features

ROOT = Path(__file__).resolve().parents[1]
REAL_SOURCE = "real_photos_train"


def kind(prefix: str = ""):
    """Rows whose path is a composite's (of one kind, with ``prefix``)."""
    return F.col("path").startswith(f"{COMPOSITE_PREFIX}{prefix}")


# name -> (procedural composites, background-photo composites)
COMPOSITES = {
    "Fruits-360 Training as is": (False, False),
    "+ procedural composites": (True, False),
    "+ background-photo composites": (False, True),
    "+ both composites": (True, True),
}


# The issue's own recipe (StandardScaler, then PCA 256), beside the run's parameters.
ISSUE_RECIPE = {"standardize": True, "k": 256}
# A photo's two composites together weigh as much as the photo (classification params).
HALF = {"composite_weight": 0.5}
PARAMS = ("reduction", "classification")  # what a rung may change


def rung_rows(features, procedural: bool, photos: bool, real: bool):
    """Every Test row; the Training rows of the rung's sources and composites."""
    keep = ~kind()
    if procedural:
        keep = keep | kind("procedural-")
    if photos:
        keep = keep | kind("photos-")
    if not real:
        keep = keep & (F.col("source") != REAL_SOURCE)
    return features.where((F.col("split") == "Test") | keep)


def dev_features(photos: Path, predictor: Predictor) -> tuple[np.ndarray, list[str]]:
    files = sorted(p for p in photos.rglob("*") if p.suffix.lower() in SUFFIXES)
    featurizer = predictor.featurizer
    size, resize = featurizer.image_size, featurizer.resize_filter
    images = np.stack([decode_image(p.read_bytes(), size, resize) for p in files])
    return predictor.features(images), [p.parent.name for p in files]


def family_scores(head, features: np.ndarray, truth: list[str]) -> dict:
    names, probabilities = head.family_probabilities(head.components(features))
    ranked = np.argsort(probabilities, axis=1)[:, ::-1][:, :3]
    top1 = sum(names[r[0]] == t for r, t in zip(ranked, truth, strict=True))
    top3 = sum(t in {names[i] for i in r} for r, t in zip(ranked, truth, strict=True))
    guesses = np.array(names)[ranked[:, 0]]
    values, counts = np.unique(guesses, return_counts=True)
    most = sorted(zip(values.tolist(), counts.tolist(), strict=True), key=lambda x: -x[1])[:4]
    return {
        "family_top1": share(int(top1), len(truth)),
        "family_top3": share(int(top3), len(truth)),
        "most_answered": most,
    }


def measure_rung(features, params: dict, dev: tuple[np.ndarray, list[str]], **rung) -> dict:
    started = time.perf_counter()
    rows = rung_rows(features, **rung).cache()
    training = rows.where(F.col("split") == "Training")
    counts = {
        "fruits360_photos": training.where(~kind() & (F.col("source") != REAL_SOURCE)).count(),
        "procedural_composites": training.where(kind("procedural-")).count(),
        "photo_composites": training.where(kind("photos-")).count(),
        "real_photos": training.where(F.col("source") == REAL_SOURCE).count(),
    }
    reduction, _explained = fit_reduction(rows, params["reduction"])
    pca_features = transform_features(rows, reduction).cache()
    classifier = train_classifier(pca_features, params["classification"])
    family_classifier = train_family_classifier(pca_features, params["classification"])
    metrics, _figure = evaluate_classifier(pca_features, classifier)
    head = build_linear_head(
        reduction, classifier, family_classifier, pca_features, params["families"]
    )
    assert not isinstance(head, SkippedClassifier), head
    sources = evaluate_sources(head, rows)
    pca_features.unpersist()
    rows.unpersist()
    return {
        **rung,
        "training": counts,
        "k": reduction.stages[-1].getK(),
        "heads": sorted(head.heads),
        "test_class_accuracy": metrics["accuracy"],
        "test_sources": sources,
        "dev": family_scores(head, *dev),
        "seconds": round(time.perf_counter() - started, 1),
    }


def table(rungs: list[dict]) -> str:
    lines = [
        "| training images | heads | dev family top-1 (95% CI) | dev top-3 (95% CI) "
        "| Test acc. (class) |",
        "|---|---|---|---|---|",
    ]
    for r in rungs:
        top1, top3 = r["dev"]["family_top1"], r["dev"]["family_top3"]
        lines.append(
            f"| {r['name']} | {' + '.join(r['heads'])} "
            f"| {top1['share']:.1%} ({top1['ci95'][0]:.0%}-{top1['ci95'][1]:.0%}) "
            f"| {top3['share']:.1%} ({top3['ci95'][0]:.0%}-{top3['ci95'][1]:.0%}) "
            f"| {r['test_class_accuracy']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos", type=Path, default=ROOT.parent / "shared/data/real_photos_dev/photos"
    )
    parser.add_argument("--env", default="local")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ladder.json")
    parser.add_argument(
        "--only", help="measure only the rungs whose name holds this text; merge them into --out"
    )
    args = parser.parse_args()

    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT, env=args.env) as session:
        context = session.load_context()
        params = context.params
        features = context.catalog.load("image_features")
        predictor = Predictor.from_bundle(find_bundle(ROOT / "data/06_models/model_bundle"))
        fingerprints = {r.featurizer for r in features.select("featurizer").distinct().collect()}
        if fingerprints != {predictor.featurizer.fingerprint}:
            raise SystemExit(
                f"the newest bundle's featurizer {predictor.featurizer.fingerprint} did not make "
                f"the stored features ({sorted(fingerprints)}): rerun make run-full"
            )
        if any(features.where(kind(k)).isEmpty() for k in ("procedural-", "photos-")):
            raise SystemExit("the stored features have no composites: make run-full AUGMENT=true")
        dev = dev_features(args.photos, predictor)
        half_weight = {**params, "classification": {**params["classification"], **HALF}}
        issue_recipe = {**params, "reduction": {**params["reduction"], **ISSUE_RECIPE}}
        # The ends of the ladder first, the middle rungs after, the issue's recipe last.
        names = list(COMPOSITES)
        order = [names[0], names[3], names[1], names[2]]
        plan = [
            (f"{name}{' + real_photos_train' if real else ''}", params, COMPOSITES[name], real)
            for name in order
            for real in (False, True)
        ] + [
            (f"+ both composites at weight 0.5{' + real_photos_train' if real else ''}",
             half_weight, (True, True), real)
            for real in (False, True)
        ] + [
            ("+ both composites + real_photos_train, scaler + PCA 256", issue_recipe,
             (True, True), True),
        ]  # fmt: skip
        plan = [rung for rung in plan if not args.only or args.only in rung[0]]
        rungs = []
        for label, rung_params, (procedural, photos), real in plan:
            result = measure_rung(
                features, rung_params, dev, procedural=procedural, photos=photos, real=real
            )
            rungs.append({"name": label, **{k: rung_params[k] for k in PARAMS}, **result})
            dev_top1 = result["dev"]["family_top1"]["share"]
            dev_top3 = result["dev"]["family_top3"]["share"]
            print(
                f"{label}: dev top-1 {dev_top1:.1%}, top-3 {dev_top3:.1%}, Test "
                f"{result['test_class_accuracy']:.4f} ({result['seconds']} s)",
                flush=True,
            )
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}",
        "photos": str(args.photos),
        "n_dev_photos": len(dev[1]),
        "parameters": {k: params[k] for k in (*PARAMS, "augmentation")},
        "rungs": rungs,
    }
    if args.only and args.out.is_file():  # the other rungs stay as measured before
        fresh = {r["name"] for r in rungs}
        before = json.loads(args.out.read_text())["rungs"]
        rungs = [r for r in before if r["name"] not in fresh] + rungs
        report["rungs"] = rungs
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(rungs))


if __name__ == "__main__":
    main()
