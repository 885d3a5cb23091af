"""Training time per epoch of the project's trainer, on this machine's CPU or on a CUDA GPU.

Trains YOLOv5n from scratch for two epochs (each with Ultralytics' validation) on a fixed sample
of display crops cut from the shared digits set, at each image size asked for. The second epoch's
time, read from Ultralytics' results.csv, is the steady cost per epoch (the model build, data
caching and CUDA warm-up fall in the first); it is extrapolated to a full epoch of the real retrain
set (photos kept + 3 crops per photo + synthetic crops). Prints a table; rerun on the GPU machine
with --device cuda.

    python bench/train_speed.py [--device cpu|cuda] [--sizes 128 256 640] [--sample 96]

SEGREAD_DIGITS names another copy of the digits set (the GPU machine reads it from .data/).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DIGITS = Path(os.environ.get("SEGREAD_DIGITS", ROOT.parent / "shared" / "data" / "digits"))
os.environ["YOLO_OFFLINE"] = "1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 640])
    ap.add_argument("--sample", type=int, default=96, help="training images timed per size")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--full-epoch", type=int, default=3300, help="images in one real retrain epoch")
    args = ap.parse_args()
    if not DIGITS.is_dir():
        print(f"needs {DIGITS}", file=sys.stderr)
        return 2

    from trainer import crops, dataset, split
    from trainer.train import TrainSettings, resolve_device, train

    gathered = dataset.gather([DIGITS])
    parts = split.split(gathered.items)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_items = crops.make_crops(parts["train"][: args.sample], tmp / "crops", per_image=1)
        val_items = crops.make_crops(parts["val"][:16], tmp / "val", per_image=1)
        yamls = split.materialise({"train": train_items, "val": val_items, "test": []}, tmp / "data")
        device_name = resolve_device(args.device)[1]
        for size in args.sizes:
            settings = TrainSettings(epochs=2, imgsz=size, batch=args.batch, device=args.device, workers=2)
            start = time.monotonic()
            result = train(yamls["train"], tmp / f"run{size}", settings)
            total = time.monotonic() - start
            epoch = second_epoch_seconds(result.run_dir / "results.csv") or total / 2
            per_image = epoch / len(train_items)
            rows.append((size, len(train_items), total, epoch, per_image, per_image * args.full_epoch))
    print(f"\nYOLOv5n from scratch, two epochs incl. validation, batch {args.batch}, on {device_name}\n")
    print(f"{'imgsz':>5} {'images':>6} {'total s':>8} {'s/epoch':>8} {'ms/image':>9} {'est. s per real epoch':>22}")
    for size, n, total, epoch, per_image, full in rows:
        print(f"{size:>5} {n:>6} {total:8.1f} {epoch:8.2f} {per_image * 1000:9.1f} {full:22.0f}")
    return 0


def second_epoch_seconds(results_csv: Path) -> float | None:
    """The last epoch's own time from Ultralytics' results.csv (its `time` column is cumulative)."""
    import csv

    try:
        with open(results_csv, newline="") as f:
            times = [float(row["time"]) for row in csv.DictReader(f, skipinitialspace=True)]
    except (OSError, KeyError, ValueError):
        return None
    return times[-1] - times[-2] if len(times) >= 2 else None


if __name__ == "__main__":
    sys.exit(main())
