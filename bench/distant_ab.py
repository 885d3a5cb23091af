"""Do distant frames (`segread retrain --distant`) teach a 640 model to find a webcam's display?

Every labeled photo's digits are 42 px or taller once letterboxed to 640, the size the reader's
find pass searches whole frames at; run3's webcam frames show them about 32 px tall. Two arms
fine-tune the same project model for the same epochs on the same number of training images:

  photos   N whole photos of the train side;
  distant  N/2 of those photos and N/2 distant frames made from the other N/2 (trainer.crops.make_distant).

Each arm is exported like a retrain's candidate; then, for the parent and both arms: the share of
run3 frames (every --every-th) on whole of which the find pass at 640 finds all four digits, and
`segread evaluate`'s report on the frozen test split and the sessions, all in this run. run3 is
only read, never trained on.

    python bench/distant_ab.py [--from models/candidates/segread-20261126-202129.pt] [--epochs 3]
                               [--photos 300] [--crop-size 320] [--out runs/distant-ab]

About 25 minutes on the 2-core CPU at the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from _table import print_table  # bench/ is on sys.path: these run as scripts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
os.environ["YOLO_OFFLINE"] = "1"


def train_arm(arm: str, photos: list, val: list, args: argparse.Namespace) -> Path:
    from trainer import crops, export, split
    from trainer.train import TrainSettings, train

    out = args.out / arm
    half, vhalf = len(photos) // 2, len(val) // 2
    if arm == "distant":
        photos = photos[half:] + crops.make_distant(photos[:half], out / "far", 1)
        val = val[vhalf:] + crops.make_distant(val[:vhalf], out / "far-val", 1)
    yamls = split.materialise({"train": photos, "val": val, "test": []}, out / "data")
    settings = TrainSettings(model=str(args.parent), epochs=args.epochs, imgsz=640, batch=16, workers=2, device=args.device)
    result = train(yamls["train"], out / "train", settings)
    return export.export_onnx(result.best_pt, args.out / f"{arm}.onnx", 640, crop_size=args.crop_size)


def whole_frame_finds(model: Path, frames: list[Path]) -> int:
    """Frames on whole of which one detection at 640 gives the display's four digits."""
    import cv2

    from edge.detect import OnnxDetector
    from edge.reading import DisplayFormat, read_digits

    detector, fmt = OnnxDetector(model, device="cpu"), DisplayFormat.parse("time")
    return sum(len(read_digits(detector.detect(cv2.imread(str(f)), (640, 640)), fmt, 0.5).digits) == 4 for f in frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="parent", type=Path, default=ROOT / "models/candidates/segread-20261126-202129.pt")
    ap.add_argument("--data", type=Path, default=SHARED / "data/digits")
    ap.add_argument("--sessions", type=Path, default=SHARED / "data/sessions")
    ap.add_argument("--session", default="run3_0800-1200", help="the session whose whole frames are probed")
    ap.add_argument("--every", type=int, default=4, help="probe every N-th frame")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--crop-size", type=int, default=320)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/distant-ab")
    args = ap.parse_args()
    if not (args.data.is_dir() and (args.sessions / args.session).is_dir() and args.parent.is_file()):
        print(f"distant_ab: needs {args.data}, {args.sessions / args.session} and {args.parent}", file=sys.stderr)
        return 2

    from trainer import dataset, export, split
    from trainer.crops import MIN_DISTANT_SIDE
    from trainer.cli import stdout_to_stderr
    from trainer.evaluate import evaluate_on_split, frozen_test

    parts = split.split(dataset.gather([args.data]).items)
    photos = [i for i in parts["train"] if min(i.width, i.height) >= MIN_DISTANT_SIDE][: args.photos]  # not LCD crops
    val = [i for i in parts["val"] if min(i.width, i.height) >= MIN_DISTANT_SIDE][:30]
    frames = sorted((args.sessions / args.session).glob("*.jpg"), key=lambda p: int(p.stem))[:: args.every]
    with stdout_to_stderr():  # Ultralytics prints its progress on stdout: the table alone goes there
        models = {"parent": export.export_onnx(args.parent, args.out / "parent.onnx", 640, crop_size=args.crop_size)}
        for arm in ("photos", "distant"):
            models[arm] = train_arm(arm, photos, val, args)
        test = frozen_test([args.data], args.out / "eval")
        rows = {name: {"finds": whole_frame_finds(path, frames), **evaluate_on_split(path, test, args.sessions)}
                for name, path in models.items()}
    (args.out / "distant_ab.json").write_text(json.dumps(rows, indent=2))

    print(f"\nFine-tuned from {args.parent.name}, {args.epochs} epochs at 640 on {len(photos)} training images each; "
          f"{args.session}: {len(frames)} frames probed; frozen test split: {len(test.items)} photos\n")
    head = ["arm", f"{args.session} whole frames: 4 digits found at 640", "whole photos mAP50-95", "distant photos mAP50 / 50-95",
            "test crops mAP50-95", "photos read: right / wrong-acc", "sessions: right / wrong-acc"]
    table = []
    for name, r in rows.items():
        far, s, p = r["test_distant"], r["sessions"], r["test_readings"]
        table.append([name, f"{r['finds']}/{len(frames)}", f"{r['test']['map50_95']:.3f}",
                      f"{far['map50']:.3f} / {far['map50_95']:.3f}", f"{r['test_crops']['map50_95']:.3f} ({r['test_crops']['imgsz']})",
                      f"{p['right']}/{p['total']} / {p['wrong_accepted']}", f"{s['right']}/{s['total']} / {s['wrong_accepted']}"])
    print_table(head, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
