"""A monitor in SCAN mode, read through the reader's loop: what the log and the review queue get.

The Sunny monitor of the shared photos prints SCAN TIME CNT TOTAL CNT CAL under its LCD: in SCAN
mode it shows the time, the stroke count, the total count and the calories for a few seconds each.
No real session of it is at hand, so the renderer draws one with exact truth: a workout rendered
like `segread demo`'s, each `--slot` seconds showing the next quantity in turn (the counts right-
aligned with blank leading places and no colon), a frame every `--interval` seconds. Each model
reads it through `segread read`'s loop (every frame, no dedup, frame times known), with the
SCAN-mode rules (`SequenceCheck.scan_span`) and without them, into a real session log and review
queue. Per run, as the session log keeps them (a reading it withdrew counts as held): the time
frames read right, any frame accepted wrong (a total count logged as a time is one), the sessions
logged, the items queued and how many of them show another quantity, and the wall time a frame
(the session log and the review queue's writes included).

    python bench/scan_mode.py [--models models/current ...] [--seconds 300] [--interval 1.5] [--slot 6] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _table import print_table  # bench/ is on sys.path: these run as scripts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PEER = ROOT.parent / "shared/models/peer-baseline-yolov5n-640.onnx"

from edge.synth import SyntheticWorkout  # noqa: E402

QUANTITIES = ("time", "count", "total", "calories")


class ScanningWorkout(SyntheticWorkout):
    """A `SyntheticWorkout` whose display shows each quantity for `slot` seconds in turn, at
    `strokes` a minute from a total count of `total`; the first slot is at a random phase."""

    def __init__(self, *args, slot: float = 6.0, strokes: float = 24.0, total: int = 3120, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.slot, self.strokes, self.total = slot, strokes, total

    def quantity(self, index: int) -> str:
        return QUANTITIES[int((self._ticks[index] + self._phase * 4 * self.slot) // self.slot) % 4]

    def reading(self, index: int) -> str:
        quantity, elapsed = self.quantity(index), int(self._ticks[index])
        if quantity == "time":
            return super().reading(index)
        count = {"count": elapsed * self.strokes // 60, "total": self.total + elapsed * self.strokes // 60,
                 "calories": elapsed * 8 // 60}[quantity]
        return f"{int(count) % 10000:>4d}"

    def alt(self, index: int) -> str:
        return super().alt(index) if self.quantity(index) == "time" and self.quantity(max(index - 1, 0)) == "time" else ""

    def style_at(self, index: int) -> dict:
        """The workout's style; the colon lit in the time alone."""
        style = super().style_at(index)
        return dict(style, colon=self.quantity(index) == "time" and style.get("colon", False))


def write_frames(workout: ScanningWorkout, folder: Path) -> Path:
    """The workout's frames as a camera's JPEGs, rendered once for every model and setting."""
    import cv2

    folder.mkdir(parents=True)
    for i in range(len(workout)):
        cv2.imwrite(str(folder / f"{i}.jpg"), workout.frame(i).image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return folder


def read_workout(model: Path, workout: ScanningWorkout, folder: Path, interval: float, scan: bool) -> dict:
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from edge.review.queue import ReviewQueue
    from edge.review.select import SelectConfig
    from edge.score import read_folder
    from edge.store import SessionLog, open_db

    db = open_db(folder.parent / f"{folder.name}-{model.stem}-{scan}.db")
    reader = Reader(OnnxDetector(model, device="cpu"), "time", scan=scan)
    log = SessionLog(db, "scan bench", model.stem, "time")
    queue = ReviewQueue.for_reader(db, reader, log, SelectConfig(sample_rate=0.0))
    records = read_folder(reader, folder, interval, log, on_result=queue.consider)
    log.close()
    logged = {row["frame"]: row["status"] for row in db.query("SELECT frame, status FROM readings")}
    out = {"time": 0, "right": 0, "wrong": 0, "other_accepted": 0}
    for i, rec in enumerate(records):
        shown, accepted = workout.reading(i), logged.get(rec["frame"]) == "accepted"
        if workout.quantity(i) == "time":
            out["time"] += 1
            out["right"] += accepted and rec["reading"] in {shown, workout.alt(i)}
            out["wrong"] += accepted and rec["reading"] not in {shown, workout.alt(i)}
        else:
            out["other_accepted"] += accepted
    items = list(db.query("SELECT frame FROM review_items"))
    out["queued"] = len(items)
    out["queued_other"] = sum(workout.quantity(int(item["frame"].split(".")[0])) != "time" for item in items)
    out["sessions"] = db["sessions"].count
    db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path, default=[ROOT / "models/current"])
    parser.add_argument("--peer", type=Path, default=PEER)
    parser.add_argument("--seconds", type=int, default=300, help="workout length in display seconds")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between frames (run3's: 1.5)")
    parser.add_argument("--slot", type=float, default=6.0, help="seconds each quantity shows")
    parser.add_argument("--seeds", type=int, default=3, help="workouts, each of its own scene and start")
    args = parser.parse_args()

    from edge.models import resolve_model

    models = [resolve_model(m) for m in args.models] + ([args.peer] if args.peer.is_file() else [])
    workouts = [ScanningWorkout(args.seconds, 1 / args.interval, f"{10 + 7 * s:02d}:{(13 * s) % 60:02d}", seed=s,
                                slot=args.slot, strokes=20 + 4 * s) for s in range(args.seeds)]
    rows, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folders = [write_frames(workout, Path(tmp) / f"w{workout.seed}") for workout in workouts]
        for model in models:
            for scan in (True, False):
                total: dict[str, int] = {}
                began = time.perf_counter()
                for workout, folder in zip(workouts, folders):
                    for key, value in read_workout(model, workout, folder, args.interval, scan).items():
                        total[key] = total.get(key, 0) + value
                ms = (time.perf_counter() - began) * 1000 / sum(len(w) for w in workouts)
                rows.append([model.stem, "on" if scan else "off", f"{total['right']}/{total['time']}", str(total["wrong"]),
                             str(total["other_accepted"]), str(total["sessions"]),
                             f"{total['queued']} ({total['queued_other']})", f"{ms:.0f}"])
                print(f"  {model.stem} scan {'on' if scan else 'off'}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    frames = sum(len(w) for w in workouts)
    print(f"{args.seeds} synthetic workouts in SCAN mode, {frames} frames {args.interval:g} s apart, {args.slot:g} s a quantity "
          f"(time, stroke count, total count, calories), read every frame with frame times known; 2 CPU cores")
    print_table(["model", "SCAN rules", "time right", "time wrong", "others accepted", "sessions", "queued (others)",
                 "ms a frame"], rows)


if __name__ == "__main__":
    main()
