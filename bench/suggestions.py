"""How often the review queue's suggestion is what the frame showed: run3 read under a few of
`bench/perturb.py`'s conditions with `segread read` (its queue on, every frame), each queued
item's suggestion then scored against run3's truth.

A person answers an item with a single suggestion in one keystroke (`segread review fix ID`); with
several (07:57 or 07:58) they type the digits. Per model and condition: items queued; single
suggestions, and of them right; several, and of them those that hold the truth; none.

    python bench/suggestions.py [--models models/current other.onnx ...] [--only "none,jpeg q15,night"]
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
from contextlib import closing
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

import perturb  # bench/ is on sys.path: these run as scripts
from _table import print_table

ROOT = perturb.ROOT
DEFAULT = "none,jpeg q15,night,glare 0.6"


def score(db: Path, truth: dict[str, set[str]]) -> list[int]:
    """[items, single, single right, several, several holding the truth, none] of one queue."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT frame, suggestion FROM review_items").fetchall()
    out = [len(rows), 0, 0, 0, 0, 0]
    for frame, suggestion in rows:
        shown = truth[Path(frame).stem]
        options = suggestion.split("|") if suggestion else []
        if not options:
            out[5] += 1
        elif len(options) == 1:
            out[1] += 1
            out[2] += options[0] in shown
        else:
            out[3] += 1
            out[4] += any(o in shown for o in options)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path, default=[ROOT / "models/current"])
    parser.add_argument("--peer", type=Path, default=perturb.PEER)
    parser.add_argument("--only", default=DEFAULT, help=f"comma-separated conditions of bench/perturb.py [default {DEFAULT}]")
    args = parser.parse_args()
    if not perturb.RUN3.is_dir():
        raise SystemExit(f"error: {perturb.RUN3} not found: this bench reads the shared run3 session")
    from edge.errors import ModelError  # perturb put the checkout on sys.path
    from edge.models import resolve_model

    names = perturb.condition_names(args.only)
    with open(perturb.TRUTH, newline="") as f:
        truth = {r["frame"]: {r["reading"], r["alt"]} - {""} for r in csv.DictReader(f)}
    try:
        models = [resolve_model(m) for m in args.models] + ([args.peer] if args.peer.is_file() else [])
    except ModelError as exc:
        raise SystemExit(f"error: {exc}") from None
    box = perturb.display_box(models[0], cv2.imread(str(perturb.RUN3 / "0.jpg")))
    segread = Path(sys.executable).with_name("segread")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(names):
            folder = Path(tmp) / f"c{i}"
            perturb.write_condition(name, box, folder)
            for j, model in enumerate(models):
                db = Path(tmp) / f"c{i}-m{j}.db"
                done = subprocess.run([str(segread), "read", str(folder), "--model", str(model), "--no-dedup", "--db", str(db)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                    raise SystemExit(f"error: segread read failed on {name!r} with {model.name}: {last}")
                items, single, right, several, holding, none = score(db, truth)
                rows.append([name, model.stem, str(items), f"{single} ({right} right)", f"{several} ({holding} hold it)", str(none)])
            print(f"  {name}: done", file=sys.stderr)
    print("run3 under each condition, read by `segread read --no-dedup` with its review queue; each item's suggestion "
          "against the truth; 2 CPU cores, onnxruntime CPU")
    print_table(["condition", "model", "items", "single suggestion", "several", "none"], rows)


if __name__ == "__main__":
    main()
