"""The peer's recipe retrained on the frozen split's train side, so the peer is scored on test
photos it never saw, beside the project's models, in one run.

The shipped peer (plain Ultralytics: YOLOv5n from scratch, imgsz 640, Ultralytics' defaults but
fliplr=0, about 120 epochs in 3 minutes on one H100) was trained on all of digits/, the frozen
test photos included: on that split it scores 0.863 mAP50-95, on held-back photos 0.755. This
trains the same recipe on the train side's whole photos (the val side for Ultralytics' own
best-epoch choice, as the peer's user would), for a fixed number of epochs so that sharing the
machine costs it time, not training; exports it to ONNX; and scores it, the shipped peer and each
model given with `segread evaluate`'s code on the frozen test split (and the sessions, if given).

    python bench/peer_replica.py [--device cuda] [--epochs 120] [--models models/current …]
                                 [--sessions ../shared/data/sessions] [--out runs/peer-replica]
    python bench/peer_replica.py --train-only …   # train it now (beside a retrain, say) …
    python bench/peer_replica.py --score-only …   # … and score it in --out later, with the others

Prints a table; the JSON reports land in --out/peer_replica.json, the ONNX in --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _table import print_table  # bench/ is on sys.path: these run as scripts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
os.environ["YOLO_OFFLINE"] = "1"

REPLICA = "peer-replica"
PEER_EPOCHS = 120  # what 3 minutes gave the peer on one H100


def train_replica(data: Path, out: Path, device: str, epochs: int, imgsz: int, limit: int | None,
                  relabel: list[Path] | None = None) -> dict:
    """Train the peer's recipe on the train side's photos (labels fixed by `relabel`, as the
    project's own models train); returns what its card would say."""
    from trainer import dataset, export, split
    from trainer.train import TrainSettings, train

    parts = split.split(dataset.gather([data], relabel=relabel).items)
    train_items = parts["train"][:limit] if limit else parts["train"]
    val_items = parts["val"][: max(8, limit // 4)] if limit else parts["val"]
    yamls = split.materialise({"train": train_items, "val": val_items, "test": []}, out / "data")
    # Ultralytics' defaults (batch 16, patience 100, its own augmentations), flips off as the peer had.
    settings = TrainSettings(epochs=epochs, imgsz=imgsz, batch=16, device=device, workers=4, patience=100,
                             augment={"fliplr": 0.0})
    start = time.monotonic()
    result = train(yamls["train"], out / "train", settings)
    export.export_onnx(result.best_pt, out / f"{REPLICA}.onnx", imgsz)
    return {"train_photos": len(train_items), "val_photos": len(val_items), "epochs": result.epochs_done,
            "train_minutes": result.minutes, "device": result.device_name,
            "minutes_with_export": round((time.monotonic() - start) / 60, 2)}


def score(args: argparse.Namespace) -> tuple[dict, dict]:
    """Train the replica (unless --score-only), then score it, the peer and --models in one run."""
    from edge.errors import ModelError
    from edge.models import resolve_model
    from trainer.evaluate import evaluate_on_split, frozen_test

    others = {path.stem: path for path in map(resolve_model, args.models)}  # a bad path stops before training
    if bad := [str(path) for path in others.values() if path.suffix != ".onnx"]:
        raise ModelError(f"--models takes ONNX models (the reader reads them): {', '.join(bad)}")
    summary_path = args.out / "peer_replica.json"
    if args.score_only:
        training = json.loads(summary_path.read_text())["replica_training"] if summary_path.is_file() else {}
    else:
        training = train_replica(args.data, args.out, args.device, args.epochs, args.imgsz, args.limit, args.relabel)
    if args.train_only:
        return {}, training
    replica = args.out / f"{REPLICA}.onnx"
    models = {REPLICA: replica} if replica.is_file() else {}
    if not models:
        print(f"peer_replica: no {replica} (its training did not finish): scoring the others", file=sys.stderr)
    if args.peer.is_file():
        models["peer (trained on test too)"] = args.peer
    models.update(others)
    test = frozen_test([args.data], args.out / "eval", args.relabel)
    return {name: evaluate_on_split(path, test, args.sessions) for name, path in models.items()}, training


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data/digits")
    ap.add_argument("--relabel", type=Path, action="append", default=[],
                    help="checked labels replacing those of --data photos of the same name (trainer/relabel/digits)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=PEER_EPOCHS)
    ap.add_argument("--imgsz", type=int, default=640, help="the peer's 640; smaller only to smoke-test the bench")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N train photos (a smoke test)")
    ap.add_argument("--models", nargs="*", type=Path, default=[ROOT / "models/current"],
                    help="project models to score beside it")
    ap.add_argument("--peer", type=Path, default=SHARED / "models/peer-baseline-yolov5n-640.onnx")
    ap.add_argument("--sessions", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "runs/peer-replica")
    ap.add_argument("--score-only", action="store_true", help="score the replica already in --out")
    ap.add_argument("--train-only", action="store_true", help="train and export it; score later with --score-only")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"peer_replica: needs the digits set at {args.data}", file=sys.stderr)
        return 2

    from edge.errors import SegreadError
    from trainer.cli import stdout_to_stderr
    from trainer.evaluate import SUMMARY_HEAD, summary_row

    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with stdout_to_stderr():  # Ultralytics prints its progress on stdout: the table alone goes there
            reports, training = score(args)
    except SegreadError as exc:
        print(f"peer_replica: {exc}", file=sys.stderr)
        return 2
    (args.out / "peer_replica.json").write_text(json.dumps({"replica_training": training, "reports": reports}, indent=2))

    print(f"\nThe peer's recipe on the train side only: {json.dumps(training)}")
    if not reports:
        return 0
    print(f"Frozen test split of {args.data} ({next(iter(reports.values()))['test_images']} photos), "
          "every model scored in this run\n")
    print_table(SUMMARY_HEAD, [summary_row(name, report) for name, report in reports.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
