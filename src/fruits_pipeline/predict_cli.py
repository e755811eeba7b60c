"""``fruits-predict PHOTO [PHOTO...]``: the fruit in each photo, or an honest "unknown".

Reads one model bundle (the newest complete one, or ``--model-version``) straight from
its folder with ``engine.Predictor``: no Spark, no Kedro session, no TensorFlow import
for a TFLite bundle. Answers equal the Spark prediction pipeline's (a test checks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fruits_pipeline.engine import Predictor, find_bundle
from fruits_pipeline.errors import UserError

BUNDLES = Path("data") / "06_models" / "model_bundle"  # conf/base/catalog.yml: model_bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fruits-predict", description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", help="image files (JPEG, PNG, WEBP, GIF, BMP, TIFF)")
    parser.add_argument("--project", default=".", help="Kedro project folder (default: .)")
    parser.add_argument(
        "--bundle", help=f"folder of model bundles (default: <project>/{BUNDLES.as_posix()})"
    )
    parser.add_argument("--model-version", help="model bundle version (default: the newest)")
    parser.add_argument("--json", action="store_true", help="one JSON object per photo")
    parser.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    args = parser.parse_args(argv)
    try:
        root = Path(args.bundle) if args.bundle else Path(args.project) / BUNDLES
        predictor = Predictor.from_bundle(find_bundle(root, args.model_version), args.threads)
    except UserError as error:
        print(f"fruits-predict: {error}", file=sys.stderr)
        return 2
    try:
        return _answer_all(predictor, args)
    except BrokenPipeError:  # e.g. piped into `head`: the reader has what it wanted
        sys.stderr.close()
        return 0


def _answer_all(predictor: Predictor, args: argparse.Namespace) -> int:
    failed = False
    for photo in args.photos:
        answer = predictor.predict(str(Path(photo).resolve()))
        if answer.error is not None:
            failed = True
            print(f"fruits-predict: {Path(photo).resolve()}: {answer.error}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(answer.to_json()), flush=True)
            continue
        if len(args.photos) > 1:
            print(f"# {answer.path}")
        print("unknown" if answer.unknown is True else answer.label)
        if answer.unknown is True:
            print(f"  ({answer.reason}; best guess {answer.label})")
        print(f"  family: {answer.family}")
        for label, probability in answer.top3:
            print(f"  {probability:6.1%}  {label}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
