"""`segread read` as a real process: a signal closes the session cleanly and keeps every reading; a
session a full disk kept it from closing is closed by the next read, never one whose read still
runs; a disk full before the database is made is one line saying so."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import sqlite_utils

from edge.capture import Frame
from edge.cli import main
from edge.errors import SourceError
from edge.pipeline import Reader
from edge.run import run
from edge.store import SessionLog, open_db
from tests.conftest import FakeDetector, digits_at, read_beside, segread_cmd, sessions_by_source, still_frames


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_the_session_and_keeps_every_reading(tmp_path, tiny_onnx, sig):
    frames = still_frames(tmp_path / "frames", 400)
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


WAL_FRAME = 4096 + 24  # a page as the write-ahead log appends it, with its frame header


def read_until_the_disk_fills(frames, model, db) -> list[str]:
    """`segread read` of `frames` into `db` on a disk that fills a few frames in, so that closing
    its session fails too; its stderr lines. Whether closing finds room for its one page depends on
    where the pages of the write that failed fell: of three sizes a page apart, one leaves none."""
    resource = pytest.importorskip("resource")
    for k in range(3):
        for path in db.parent.glob(f"{db.name}*"):
            path.unlink()
        open_db(db).conn.close()  # the schema, written while there was room
        limit = 56 * 1024 + k * WAL_FRAME

        def full_disk():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

        out = subprocess.run(segread_cmd("read", frames, "--model", model, "--db", db, "--no-dedup", "--no-queue"),
                             capture_output=True, text=True, timeout=120, preexec_fn=full_disk)
        assert out.returncode == 2, out.stderr
        if sessions_by_source(db)[str(frames)]["status"] == "open":
            return out.stderr.strip().splitlines()
    pytest.fail("a full disk never kept `segread read` from closing its session")


def test_a_session_left_open_by_a_read_the_disk_stopped_is_closed_by_the_next_read(tmp_path, tiny_onnx, capsys):
    # Closing a session writes too: a full disk can stop `segread read` with its session open.
    # `segread sessions` says its writer is gone, and the next read on the database closes it as
    # interrupted; a session whose read still runs stays open when another read starts.
    db = tmp_path / "s.db"
    full, beside, later = (still_frames(tmp_path / name, n) for name, n in (("full", 60), ("beside", 400), ("later", 3)))
    err = read_until_the_disk_fills(full, tiny_onnx, db)
    assert err[-1].startswith("segread: error: cannot write to the session database")
    assert not any("Traceback" in line for line in err)
    assert main(["sessions", "--db", str(db)]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"open (writer gone)  {full}")
    proc = read_beside(beside, tiny_onnx, db)
    try:
        assert (sessions_by_source(db)[str(full)]["status"], sessions_by_source(db)[str(full)]["end_reason"]) == \
            ("closed", "interrupted")
        out = subprocess.run(segread_cmd("read", later, "--model", tiny_onnx, "--db", db, "--no-dedup", "--no-queue"),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert sessions_by_source(db)[str(beside)]["status"] == "open"
        assert main(["sessions", "--db", str(db)]) == 0
        assert "gone" not in capsys.readouterr().out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    sessions = sessions_by_source(db)
    assert (sessions[str(beside)]["status"], sessions[str(beside)]["end_reason"]) == ("closed", "stopped")


def test_a_disk_full_before_the_database_is_made_is_one_line_saying_so(tmp_path, tiny_onnx):
    # The migrations that make a new database's tables fail on a full disk; SQLite rolls the
    # transaction back itself, and the line tells the disk's error, not that of a second rollback.
    resource = pytest.importorskip("resource")

    def full_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    db = tmp_path / "s.db"
    out = subprocess.run(segread_cmd("read", still_frames(tmp_path / "frames", 2), "--model", tiny_onnx, "--db", db),
                         capture_output=True, text=True, timeout=120, preexec_fn=full_disk)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"segread: error: cannot open database {db} for writing: disk I/O error"]


def test_a_jpeg_cut_short_in_a_folder_is_skipped_and_named_never_read_half_grey(tmp_path, tiny_onnx):
    # A frame copied while it was still being written: OpenCV would decode it with the lost part
    # grey (and libjpeg print its own line); the reader skips it like any unreadable frame.
    frames = still_frames(tmp_path / "frames", 4)
    rng = np.random.default_rng(0)
    import cv2

    cv2.imwrite(str(frames / "002.jpg"), rng.integers(0, 255, (240, 320, 3), np.uint8))
    (frames / "002.jpg").write_bytes((frames / "002.jpg").read_bytes()[:20000])
    out = tmp_path / "out.jsonl"
    done = subprocess.run(segread_cmd("read", frames, "--model", tiny_onnx, "--db", tmp_path / "s.db", "--no-dedup",
                                      "--no-queue", "--jsonl", out), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["frame"] for line in out.read_text().splitlines()] == ["000.jpg", "001.jpg", "003.jpg"]
    assert "skipped 1 unreadable image(s): 002.jpg" in done.stderr
    assert "002.jpg: cut short" in done.stderr
    assert "Premature end of JPEG" not in done.stderr and "Corrupt JPEG" not in done.stderr

