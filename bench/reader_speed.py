"""Reader speed and memory on the real run3 frames, against the peer measured in the same run.

Prints, per processed frame: median and p95 milliseconds of segread's reader (tracked crop, the
whole pipeline: dedup gate, detect, reading, sequence check) and of Ultralytics
`YOLO(peer.onnx).predict` on the same frames, their ratio, both readers' accuracy against the
truth CSV, and the peak RSS of a `segread read` process.

    python bench/reader_speed.py [--model models/current] [--frames 200]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
RUN3 = SHARED / "data/sessions/run3_0800-1200"
PEER = SHARED / "models/peer-baseline-yolov5n-640.onnx"


def pct(values, q):
    return float(np.percentile(values, q))


def time_segread(model: Path, files: list[Path], truth) -> dict:
    from edge.capture import Frame
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from edge.score import read_frames, score_results

    reader = Reader(OnnxDetector(model, device="cpu"), "time")
    frames = [Frame(cv2.imread(str(f)), f.name, i, float(i)) for i, f in enumerate(files)]
    ms = []  # each frame's time in the reader, as the loop reports it (a settled verdict keeps its frame's)
    records = read_frames(reader, frames, on_result=lambda frame, result: ms.append(result.ms))
    s = score_results(records, truth)
    return {"ms": ms, "right": s.right, "wrong_accepted": s.wrong_accepted, "finds": reader.tracker.finds}


def time_peer_predict(files: list[Path], truth) -> dict:
    """Ultralytics predict on the peer ONNX, read the naive way (boxes left to right, joined)."""
    os.environ["YOLO_OFFLINE"] = "1"
    from ultralytics import YOLO

    model = YOLO(str(PEER), task="detect")
    images = [cv2.imread(str(f)) for f in files]
    model.predict(images[0], imgsz=640, verbose=False, device="cpu")  # warm-up
    ms, right = [], 0
    for f, image in zip(files, images):
        start = time.perf_counter()
        res = model.predict(image, imgsz=640, verbose=False, device="cpu")[0]
        ms.append((time.perf_counter() - start) * 1000)
        boxes = res.boxes
        order = np.argsort(boxes.xyxy[:, 0].numpy())
        text = "".join(res.names[int(c)] for c in boxes.cls.numpy()[order])
        options = truth[f.stem]
        right += "*" in options or text in options
    return {"ms": ms, "right": right}


def reader_rss(model: Path, folder: Path) -> float:
    """Peak RSS (MB) of a real `segread read` process over the folder.

    Run before anything else starts a child process: ru_maxrss of children is a maximum over all
    of them.
    """
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "edge.cli", "read", str(folder), "--model", str(model), "--no-dedup",
             "--device", "cpu", "--db", f"{tmp}/b.db", "--jsonl", f"{tmp}/b.jsonl"],
            check=True, cwd=ROOT, stderr=subprocess.DEVNULL,
        )
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> int:
    from edge.capture import natural_key
    from edge.models import resolve_model
    from edge.score import load_truth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="segread model (default models/current)")
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    if not RUN3.is_dir() or not PEER.is_file():
        print(f"needs {RUN3} and {PEER}", file=sys.stderr)
        return 2
    model = resolve_model(args.model)
    files = sorted(RUN3.glob("*.jpg"), key=lambda p: natural_key(p.name))[: args.frames]
    truth = load_truth(RUN3.with_suffix(".csv"))
    rss = reader_rss(model, RUN3)
    ours = time_segread(model, files, truth)
    ours_peer_model = time_segread(PEER, files, truth)
    peer = time_peer_predict(files, truth)
    n = len(files)
    rows = [
        ("segread read (" + model.stem + ")", ours),
        ("segread read (peer onnx)", ours_peer_model),
        ("ultralytics predict (peer onnx)", peer),
    ]
    base = statistics.median(peer["ms"])
    print(f"run3, {n} frames, {os.cpu_count()} CPU cores, onnxruntime CPU, one frame at a time\n")
    print(f"{'reader':38} {'median ms':>9} {'p95 ms':>7} {'x peer':>7} {'right':>7} {'wrong acc':>9}")
    for name, r in rows:
        med = statistics.median(r["ms"])
        wrong = r.get("wrong_accepted", "-")
        print(f"{name:38} {med:9.1f} {pct(r['ms'], 95):7.1f} {base / med:7.1f} {r['right']:>4}/{n} {wrong:>9}")
    print(f"\npeak RSS of `segread read` over run3: {rss:.0f} MB")
    print(json.dumps({"median_ms": statistics.median(ours["ms"]), "peer_median_ms": base, "rss_mb": round(rss)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
