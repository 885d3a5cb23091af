"""Soak benchmark: an hour of a synthetic rowing session at 30 fps through the service loop.

108,000 frames (at the default --minutes 60) of a 1280x720 webcam view of the monitor are
replayed as fast as the reader goes through `edge.service.Service` (resilient source, dedup,
detection, sequence check, session log, heartbeat, limits, model-pointer polling). Frames are
composed, not rendered: ten scenes showing 0000 ... 9999 are rendered once with the same camera
and noise, and each displayed MM:SS is pasted together from their digit slots (microseconds a
frame), so the display advances one second per 30 frames for the whole hour.

Reports frames read, dedup ratio, readings (and how many match the truth), throughput, peak and
current RSS (VmHWM/VmRSS from /proc/self/status) after warm-up and at the end, and database size.

    python bench/soak.py [--minutes 60] [--model models/current]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edge.capture import Frame
from edge.models import resolve_model
from edge.service.config import parse_config
from edge.service.service import Service
from edge.synth import render_scene, sample_style

ROOT = Path(__file__).resolve().parent.parent
CURRENT = ROOT / "models" / "current"


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


class ComposedWorkout:
    """Frames of a time display advancing one second per `fps` frames, pasted from 10 renders."""

    def __init__(self, minutes: float, fps: float = 30.0, size=(1280, 720), start: int = 0, seed: int = 3) -> None:
        self.n, self.fps, self.start = int(round(minutes * 60 * fps)), fps, start
        style = sample_style(np.random.default_rng(seed))
        style.update(glare=0.0, motion=0.0)
        camera = (0.0, 0.0, 1.0, 0.0)
        renders = [render_scene(str(d) * 4, np.random.default_rng(seed), size, camera, None, style) for d in range(10)]
        self.base = renders[8].image
        self.glyphs = [r.image for r in renders]
        boxes = renders[8].boxes
        x1, y1, x2, y2 = renders[8].display_xyxy
        cuts = [x1 - 12] + [(boxes[i, 2] + boxes[i + 1, 0]) / 2 for i in range(3)] + [x2 + 12]
        self.slots = [(int(cuts[i]), int(cuts[i + 1])) for i in range(4)]
        self.rows = (max(0, int(y1) - 12), min(size[1], int(y2) + 12))

    def __len__(self) -> int:
        return self.n

    def text(self, index: int) -> str:
        v = (self.start + int(index / self.fps)) % 6000
        return f"{v // 60:02d}{v % 60:02d}"

    def image(self, text: str) -> np.ndarray:
        img = self.base.copy()
        r0, r1 = self.rows
        for (c0, c1), ch in zip(self.slots, text):
            img[r0:r1, c0:c1] = self.glyphs[int(ch)][r0:r1, c0:c1]
        return img

    def __iter__(self):
        shown, img = None, None
        for i in range(self.n):
            text = self.text(i)
            if text != shown:
                shown, img = text, self.image(text)
            yield Frame(img, str(i), i, i / self.fps)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(CURRENT), help="ONNX model or a models/current pointer [default: the shipped model].")
    ap.add_argument("--minutes", type=float, default=60.0, help="Session length in minutes of frame time (60 = 108,000 frames).")
    ap.add_argument("--fps", type=float, default=30.0, help="Frame rate of the synthetic camera.")
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "tensorrt"])
    ap.add_argument("--no-dedup", action="store_true", help="Read every frame.")
    ap.add_argument("--db", default=None, help="Database path [default: a temporary folder].")
    ap.add_argument("--json", default=None, help="Also write the figures as JSON to this file.")
    args = ap.parse_args(argv)
    if not Path(args.model).exists():
        print(f"soak: no model at {args.model}; pass --model", file=sys.stderr)
        return 2

    state = Path(args.db).parent if args.db else Path(tempfile.mkdtemp(prefix="segread-soak-"))
    cfg = parse_config({
        "source": {"spec": "synthetic", "live": False},
        "model": {"pointer": str(Path(args.model).resolve()), "device": args.device},
        "dedup": {"enabled": not args.no_dedup},
        "queue": {"enabled": False},
        "status": {"heartbeat_s": 5},
        "database": str(args.db or state / "soak.db"), "frames_dir": str(state / "frames"),
        "exports_dir": str(state / "exports"),
    }, "soak")

    t0 = time.perf_counter()
    workout = ComposedWorkout(args.minutes, args.fps)
    render_s = time.perf_counter() - t0
    service = Service(cfg, source_factory=lambda _: workout)
    service.open(threading.Event())
    mem_start = proc_status()
    samples = []

    def watch():  # RSS every 10% of the frames, to see growth rather than just two points
        step = max(1, len(workout) // 10)
        while not done.is_set():
            frames = service.reader.stats.frames
            if not samples or frames - samples[-1][0] >= step:
                samples.append((frames, proc_status()["VmRSS"]))
            done.wait(0.5)

    done = threading.Event()
    threading.Thread(target=watch, daemon=True).start()
    t1 = time.perf_counter()
    service.run(threading.Event())
    wall = time.perf_counter() - t1
    done.set()
    mem_end = proc_status()

    s, db = service.reader.stats, service.db
    truth_ok = sum(
        1 for r in db.query("SELECT frame, text FROM readings WHERE status = 'accepted'") if r["text"] == workout.text(int(r["frame"]))
    )
    db_path = Path(cfg.database)
    size_mb = sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*")) / 1e6
    figures = {
        "model": resolve_model(args.model).name, "device": args.device, "frames": s.frames, "frame_minutes": round(len(workout) / args.fps / 60, 2),
        "read": s.read, "skipped_dedup": s.skipped, "dedup_ratio": round(s.skipped / max(s.frames, 1), 4),
        "accepted": s.accepted, "held": s.held, "accepted_match_truth": truth_ok,
        "sessions": db["sessions"].count, "outages": service.camera.outages, "dropped": service.camera.dropped,
        "wall_s": round(wall, 1), "frames_per_s": round(s.frames / wall, 1), "read_ms_mean": round(sum(s.ms) / max(len(s.ms), 1), 2),
        "render_setup_s": round(render_s, 1),
        "rss_start_mb": round(mem_start["VmRSS"], 1), "hwm_start_mb": round(mem_start["VmHWM"], 1),
        "rss_end_mb": round(mem_end["VmRSS"], 1), "hwm_end_mb": round(mem_end["VmHWM"], 1),
        "rss_samples_mb": [round(m, 1) for _, m in samples], "db_mb": round(size_mb, 2),
    }
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
