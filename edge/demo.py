"""`segread demo`: a synthetic workout, rendered with exact truth, read by the real reader.

No camera and no data needed: the renderer draws a seven-segment LCD on a monitor with blur,
noise, glare and a slowly drifting camera; frames are rendered ahead in a thread, as a camera
would deliver them, and go through the same reader, session log and scoring as real frames.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from pathlib import Path

import click

from edge.capture import Frame
from edge.score import score_results, truth_options


class SyntheticSource:
    """A SyntheticWorkout as a frame source, rendered ahead in a thread into a bounded queue."""

    def __init__(self, workout, fps: float, ahead: int = 8) -> None:
        self.workout, self.fps = workout, fps
        self.name = f"synthetic:{workout.start if hasattr(workout, 'start') else ''}"
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._render, daemon=True)
        self.corrupt: list[str] = []

    def _render(self) -> None:
        for i in range(len(self.workout)):
            item = (i, self.workout.frame(i).image)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set():
                return
        self._queue.put(None)

    def __iter__(self):
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is None:
                return
            i, image = item
            yield Frame(image, f"{i}.jpg", i, i / self.fps)

    def close(self) -> None:
        self._stop.set()


@click.command()
@click.option("--model", default=None, help="ONNX model [default: the shipped models/current].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "tensorrt"]), default="auto", show_default=True)
@click.option("--seconds", default=150, show_default=True, type=click.IntRange(1), help="Workout length.")
@click.option("--fps", default=1.0, show_default=True, type=click.FloatRange(min=0.1), help="Camera frames per workout second.")
@click.option("--start", default="98:05", show_default=True, help="Display time at the first frame (MM:SS); it rolls over at 99:00.")
@click.option("--seed", default=7, show_default=True, type=click.IntRange(0))
@click.option("--db", default=None, type=click.Path(dir_okay=False), help="Session log [default: a temporary file].")
@click.option("--jsonl", default=None, help="Write one JSON object per frame to PATH.")
def demo(model, device, seconds, fps, start, seed, db, jsonl):
    """Replay a synthetic rowing workout through the reader and score it against its exact truth.

    \b
    Example:
      segread demo
      segread demo --seconds 600 --model models/current --jsonl demo.jsonl
    """
    import json

    from edge.dedup import DedupGate
    from edge.detect import OnnxDetector
    from edge.files import open_lines
    from edge.models import resolve_model
    from edge.pipeline import Reader
    from edge.run import LiveLine, run
    from edge.store import SessionLog, list_sessions, open_db
    from edge.synth import SyntheticWorkout

    try:
        workout = SyntheticWorkout(seconds=seconds, fps=fps, start=start, seed=seed, wrap_minutes=99)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--start") from None
    if len(workout) == 0:
        raise click.BadParameter(f"{seconds} s at {fps:g} frames a second is no frame", param_hint="--fps")
    out = open_lines(jsonl)
    detector = OnnxDetector(resolve_model(model), device=device)
    truth = {str(row["frame"]): truth_options(row) for row in workout.truth_rows()}
    reader = Reader(detector, "time", dedup=DedupGate(enabled=False))
    with tempfile.TemporaryDirectory() as tmp:
        store = open_db(db or Path(tmp) / "demo.db")
        log = SessionLog(store, source=f"synthetic workout seed {seed}", model=detector.model_id, fmt="time")
        records: list[dict] = []
        click.echo(
            f"segread demo: {len(workout)} synthetic frames from {start}, model {detector.model_id} "
            f"on {detector.providers[0]}", err=True
        )
        try:
            run(SyntheticSource(workout, fps), reader, log, jsonl=out, live=LiveLine(),
                on_result=lambda frame, result: records.append(result.to_json()))
        finally:
            if out:
                out.close()
        sessions = list_sessions(store)
    score = score_results(records, truth)
    s = reader.stats
    click.echo(json.dumps({
        "frames": s.frames, "accepted": s.accepted, "held": s.held,
        "exact": score.right, "exact_share": round(score.accuracy, 4),
        "wrong_accepted": score.wrong_accepted, "fps": round(s.fps, 1),
        "sessions": len(sessions), "model": detector.model_id,
    }))
