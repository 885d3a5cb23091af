"""Readings of the labeled photos, each read alone by the reader, with and without the find ladder.

For every single-row photo of a split (`test` by default: the frozen test split; `val` is where the
ladder was chosen), the reader reads it as the first frame of a session (no sequence check) as a
`digits:N` display of its labels' length; right = the accepted digits equal the labels'. Each model
is read twice: one find at 640, and the find ladder (640, then halving down to its crop size). The
peer, a fixed-input model, always finds once. The cost of the ladder is timed where it is paid in
full: the median milliseconds to read a 1280x720 frame with no display in it, each way.

    python bench/photo_readings.py [--split test] [--models models/current other.onnx ...] [--relabel DIR]

`--relabel DIR` scores against labels checked after `segread audit` (trainer.dataset.apply_relabels).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from _table import print_table  # bench/ is on sys.path: these run as scripts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
DIGITS = SHARED / "data/digits"
PEER = SHARED / "models/peer-baseline-yolov5n-640.onnx"


def no_display_ms(model: Path, ladder: bool, repeats: int = 30) -> float:
    """Median ms of one read of a frame with no display: every find the reader tries, and fails."""
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader

    reader = Reader(OnnxDetector(model, device="cpu"), "time", find_ladder=ladder)
    frame = np.random.default_rng(0).integers(40, 80, (720, 1280, 3), dtype=np.uint8)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        reader.read_image(frame)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--models", nargs="+", type=Path, default=[ROOT / "models/current"])
    parser.add_argument("--peer", type=Path, default=PEER)
    parser.add_argument("--data", type=Path, default=DIGITS)
    parser.add_argument("--relabel", type=Path, action="append", default=[],
                        help="A folder of checked labels replacing those of --data photos of the same name.")
    args = parser.parse_args()

    from edge.models import resolve_model
    from trainer.dataset import gather
    from trainer.evaluate import photo_readings
    from trainer.split import split

    gathered = gather([args.data], relabel=args.relabel)
    items = split(gathered.items)[args.split]
    models = [resolve_model(m) for m in args.models] + ([args.peer] if args.peer.is_file() else [])
    rows = []
    for model in models:
        row = [model.stem]
        for ladder in (False, True):
            r = photo_readings(model, items, find_ladder=ladder)
            row += [f"{r['right']}/{r['total']}", str(r["wrong_accepted"]), str(r["held"]),
                    f"{no_display_ms(model, ladder):.1f}"]
        rows.append(row)

    fixed = set(gathered.relabeled)
    relabeled = sum(i.image.name in fixed for i in items)
    print(f"{args.split} split of {args.data}: {len(items)} photos, {r['multi_row_left_out']} multi-row left out"
          + (f", {relabeled} relabeled from {', '.join(map(str, args.relabel))}" if args.relabel else "")
          + "; 2 CPU cores, onnxruntime CPU")
    head = ["model", "one find: right", "wrong acc", "held", "no-display ms",
            "ladder: right", "wrong acc", "held", "no-display ms"]
    print_table(head, rows)


if __name__ == "__main__":
    main()
