"""Score a model bundle on real photos labelled by family (not a test: a measurement).

Usage: python benchmarks/real_photos.py [--photos ../shared/data/real_photos_dev/photos]
[--bundle data/06_models/model_bundle] [--model-version V] [--grid out.png]. The photos are
``<Family>/*.jpg``; each gets the Spark-free predictor's answer (``engine.Predictor``).
Prints and writes benchmarks/results/real_photos.json: family top-1 and top-3 on all
photos (and the on-device model's: class head only, summed per family), how many get an
answer (not "unknown") and top-1 on those, with 95% Wilson intervals (on ~150 photos one
figure is about +-7 points). ``--grid`` also draws a seeded sample of the photos with the
true family, the answer and its "unknown" flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from fruits_pipeline.engine.predictor import Predictor, find_bundle
from fruits_pipeline.pipelines.featurization.model import decode_image

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".jpg", ".jpeg", ".png"}


def wilson(hits: int, n: int, z: float = 1.96) -> list[float]:
    """95% interval of a proportion (Wilson score), as [low, high]."""
    if n == 0:
        return [0.0, 1.0]
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def share(hits: int, n: int) -> dict:
    return {
        "hits": hits,
        "n": n,
        "share": round(hits / n, 4) if n else None,
        "ci95": wilson(hits, n),
    }


def plot_grid(rows: list[tuple[np.ndarray, str, object]], out: Path, n: int = 24) -> None:
    """``n`` photos (a seeded sample) with their true family, the answer and "unknown"."""
    import matplotlib  # noqa: PLC0415 - only with --grid

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    picked = np.random.default_rng(0).choice(len(rows), size=min(n, len(rows)), replace=False)
    columns = 6
    lines = math.ceil(len(picked) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(2.3 * columns, 3.0 * lines), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, sorted(picked), strict=False):
        image, family, answer = rows[index]
        ax.imshow(image)  # the featurizer's own 224 x 224 pixels
        if answer.unknown:
            colour, said = "grey", f"unknown ({answer.reason})\nbest: {answer.family}"
        else:
            colour = "green" if answer.family == family else "red"
            said = f"{answer.family} {answer.probability:.0%}"
        ax.set_title(f"{family}\n-> {said}", fontsize=7, color=colour)
    fig.suptitle(
        'Real photos (true family -> answer): green right, red wrong, grey "unknown"',
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=1.5)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = io.BytesIO()
    fig.savefig(png, dpi=70)
    Image.open(png).quantize(128).save(out, optimize=True)  # small enough for docs/img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos", type=Path, default=ROOT.parent / "shared/data/real_photos_dev/photos"
    )
    parser.add_argument("--bundle", type=Path, default=ROOT / "data/06_models/model_bundle")
    parser.add_argument("--model-version")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/real_photos.json")
    parser.add_argument("--grid", type=Path, help="also draw a sample of answers to this PNG")
    args = parser.parse_args()

    folder = find_bundle(args.bundle, args.model_version)
    predictor = Predictor.from_bundle(folder)
    photos = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in SUFFIXES)
    top1 = top3 = answered = answered_right = 0
    # The on-device model has the class head only: its family is the class probabilities
    # summed per family (LinearHead.family_probabilities without a family head).
    app_head = dataclasses.replace(predictor.head, heads={"class": predictor.head.heads["class"]})
    app_top1 = app_top3 = 0
    guesses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    featurizer, head = predictor.featurizer, predictor.head
    drawn = []
    for photo in photos:
        image = decode_image(photo.read_bytes(), featurizer.image_size, featurizer.resize_filter)
        features = predictor.features(image[None])[0]
        answer = predictor.answer(str(photo), features)
        family = photo.parent.name
        families, probabilities = head.family_probabilities(head.components(features[None]))
        best = [families[i] for i in np.argsort(probabilities[0])[::-1][:3]]
        top1 += answer.family == family
        top3 += family in best
        app_families, app_probabilities = app_head.family_probabilities(
            app_head.components(features[None])
        )
        app_best = [app_families[i] for i in np.argsort(app_probabilities[0])[::-1][:3]]
        app_top1 += app_best[0] == family
        app_top3 += family in app_best
        guesses[answer.label] += 1
        reasons[answer.reason or "answered"] += 1
        if answer.unknown is False:
            answered += 1
            answered_right += answer.family == family
        if args.grid:
            drawn.append((image, family, answer))
    n = len(photos)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "photos": str(args.photos),
        "bundle": folder.parent.name,
        "family_top1": share(top1, n),
        "family_top3": share(top3, n),
        "app_model_family_top1": share(app_top1, n),
        "app_model_family_top3": share(app_top3, n),
        "answered": share(answered, n),
        "family_top1_answered": share(answered_right, answered),
        "reasons": dict(reasons),
        "most_predicted": guesses.most_common(5),
    }
    if args.grid:
        plot_grid(drawn, args.grid)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
