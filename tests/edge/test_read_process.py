"""`segread read` as a real process: a signal closes the session cleanly and keeps every reading."""

import json
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import sqlite_utils

from edge.capture import Frame
from edge.errors import SourceError
from edge.pipeline import Reader
from edge.run import run
from edge.store import SessionLog, open_db
from tests.conftest import FakeDetector, digits_at


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_the_session_and_keeps_every_reading(tmp_path, tiny_onnx, sig):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(400):
        cv2.imwrite(str(frames / f"{i}.jpg"), np.full((48, 64, 3), 100, np.uint8))
    out, db = tmp_path / "out.jsonl", tmp_path / "s.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "read", str(frames), "--model", str(tiny_onnx), "--db", str(db),
         "--no-dedup", "--fps", "20", "--jsonl", str(out), "--no-queue"],
        stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while (not out.exists() or len(out.read_text().splitlines()) < 5) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert 5 <= len(records) < 400  # stopped early, between frames
    store = sqlite_utils.Database(db)
    session = list(store.query("select * from sessions"))
    assert len(session) == 1 and session[0]["status"] == "closed" and session[0]["end_reason"] == "stopped"
    accepted = [r for r in records if r["status"] == "accepted"]
    assert store.execute("select count(*) from readings where status = 'accepted'").fetchone()[0] == len(accepted)


class Breaks(FakeDetector):
    """Reads 07:53 on the first frames, then fails as a bug inside the reader would."""

    def detect(self, image, imgsz=None):
        if len(self.calls) == 3:
            raise RuntimeError("something inside the reader broke")
        return super().detect(image, imgsz)


def camera_that_stops(n: int):
    for i in range(n):
        yield Frame(np.full((48, 64, 3), 100, np.uint8), str(i), i, float(i))
    raise SourceError("video source '0' stopped delivering frames")


@pytest.mark.parametrize("source, detector, reason", [
    (camera_that_stops(3), FakeDetector(default=digits_at("0753")), "error: video source '0' stopped delivering frames"),
    (camera_that_stops(9), Breaks(default=digits_at("0753")), "error: RuntimeError: something inside the reader broke"),
])
def test_an_error_that_ends_the_read_loop_closes_the_session_with_it_not_as_the_source_ending(
        tmp_path, source, detector, reason):
    db = open_db(tmp_path / "s.db")
    with pytest.raises((SourceError, RuntimeError)):
        run(source, Reader(detector, "time", use_crop=False), SessionLog(db, "0", "fake", "time"))
    (session,) = db.query("select status, end_reason from sessions")
    assert session == {"status": "closed", "end_reason": reason}
    assert db.execute("select count(*) from readings").fetchone()[0] == 3  # the frames read before it are kept
