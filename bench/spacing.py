"""run3 read from a folder whose frames are further apart than `segread read` guesses, or with
frames left out.

A folder replayed as a camera has no capture times: `segread read` stamps its frames `--interval`
apart (1 s unless told), and the sequence check learns the session's pace from what the display
shows. run3's frames are about 1.5 s apart. A session captured at another spacing, or a folder
with frames missing (a capture that stalled, frames deleted by hand), puts the display further
ahead between two frames than that guess; so does a time-lapse video, whose frame times are the
video's. Each condition links a selection of run3's frames into a temporary folder (their names,
and so their truth, kept), or writes them to a video, and reads it through the reader's own loop
(every frame, no dedup), like `segread read FOLDER` (or `VIDEO`). The peer is read in the same
run, through the same reader.

    python bench/spacing.py [--models models/current other.onnx ...] [--interval 1.0] [--only "every 3rd (4.5 s apart)"]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from _table import print_table  # bench/ is on sys.path: these run as scripts
from perturb import PEER, ROOT, RUN3, TRUTH, condition_names

N = 200

# Which of run3's frames (0 to 199) each condition keeps, and the frame rate of the video they are
# written to (None: a folder of them).
CONDITIONS = {
    "all (1.5 s apart)": (lambda: range(N), None),
    "every 2nd (3 s apart)": (lambda: range(0, N, 2), None),
    "every 2nd from frame 1": (lambda: range(1, N, 2), None),
    "every 3rd (4.5 s apart)": (lambda: range(0, N, 3), None),
    "every 4th (6 s apart)": (lambda: range(0, N, 4), None),
    "every 6th (9 s apart)": (lambda: range(0, N, 6), None),
    "every 10th (15 s apart)": (lambda: range(0, N, 10), None),
    "3 of every 10 left out": (lambda: [i for i in range(N) if i % 10 < 7], None),
    "a fifth left out at random": (lambda: np.flatnonzero(np.random.default_rng(3).random(N) >= 0.2), None),
    "30 s left out (50-69)": (lambda: [i for i in range(N) if not 50 <= i < 70], None),
    "video at the capture's pace": (lambda: range(N), 1 / 1.5),
    "time-lapse video at 10 fps": (lambda: range(N), 10.0),
    "time-lapse video at 30 fps": (lambda: range(N), 30.0),
}


def write_condition(name: str, out: Path) -> tuple[Path, int]:
    """The frames a condition keeps, linked into the folder `out` (their names kept) or written
    to a video there (mp4v, its frames named by their index as run3's are); (what to read, frames)."""
    frames, fps = CONDITIONS[name]
    kept = [int(i) for i in frames()]
    out.mkdir()
    if fps is None:
        for i in kept:
            (out / f"{i}.jpg").symlink_to(RUN3 / f"{i}.jpg")
        return out, len(kept)
    video = out / "session.mp4"
    first = cv2.imread(str(RUN3 / f"{kept[0]}.jpg"))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, first.shape[1::-1])
    if not writer.isOpened():
        raise SystemExit("error: this OpenCV build writes no mp4v video")
    for i in kept:
        writer.write(cv2.imread(str(RUN3 / f"{i}.jpg")))
    writer.release()
    return video, len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path, default=[ROOT / "models/current"])
    parser.add_argument("--peer", type=Path, default=PEER)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between the folder's frames, as `segread read --interval`")
    parser.add_argument("--only", help=f"comma-separated conditions, of: {', '.join(CONDITIONS)}")
    args = parser.parse_args()
    if not RUN3.is_dir():
        raise SystemExit(f"error: {RUN3} not found: this bench reads the shared run3 session")
    names = condition_names(args.only, CONDITIONS)

    from edge.models import resolve_model
    from edge.score import score_session

    models = [resolve_model(m) for m in args.models] + ([args.peer] if args.peer.is_file() else [])
    rows, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for c, name in enumerate(names):
            source, kept = write_condition(name, Path(tmp) / f"c{c}")
            row = [name, str(kept)]
            for model in models:
                s = score_session(model, source, TRUTH, interval=args.interval)
                row += [f"{s['right']}/{s['total']}", str(s["wrong_accepted"])]
            rows.append(row)
            print(f"  {name}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    print(f"run3's frames (about 1.5 s apart) read as a folder stamped {args.interval:g} s apart (a video at its own "
          "frame times), through the reader's loop (every frame, no dedup); 2 CPU cores, onnxruntime CPU")
    head = ["frames", "kept"]
    for model in models:
        head += [f"{model.stem}: right", "wrong acc"]
    print_table(head, rows)


if __name__ == "__main__":
    main()
