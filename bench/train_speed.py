"""Training time per epoch of the project's trainer, on this machine's CPU or on a CUDA GPU.

Trains one epoch (plus Ultralytics' validation) of YOLOv5n from scratch on a fixed sample of
display crops cut from the shared digits set, at each image size asked for, and extrapolates to
a full epoch of the real retrain set (photos kept + 3 crops per photo + synthetic crops). Prints a
table; rerun on the GPU machine with --device cuda.

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
            settings = TrainSettings(epochs=1, imgsz=size, batch=args.batch, device=args.device, workers=2)
            start = time.monotonic()
            train(yamls["train"], tmp / f"run{size}", settings)
            seconds = time.monotonic() - start
            per_image = seconds / len(train_items)
            rows.append((size, len(train_items), seconds, per_image, per_image * args.full_epoch))
    print(f"\nYOLOv5n from scratch, one epoch incl. validation, batch {args.batch}, on {device_name}\n")
    print(f"{'imgsz':>5} {'images':>6} {'seconds':>8} {'ms/image':>9} {'est. s per real epoch':>22}")
    for size, n, seconds, per_image, full in rows:
        print(f"{size:>5} {n:>6} {seconds:8.1f} {per_image * 1000:9.0f} {full:22.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
