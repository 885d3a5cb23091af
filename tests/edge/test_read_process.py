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
