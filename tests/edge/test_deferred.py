"""The session log through another process's lock on the database: a real second SQLite connection
holds `BEGIN IMMEDIATE` while frames are read; only the detector is scripted."""

from __future__ import annotations

import logging
import sqlite3
import time

import numpy as np
import pytest

from edge import deferred
from edge.capture import Frame
from edge.dedup import DedupGate
from edge.errors import StoreError
from edge.pipeline import Reader
from edge.run import run
from edge.store import SessionLog, open_db
from tests.conftest import FakeDetector, digits_at

# A session's first reading confirmed by the next (logged held, then revised), then a reset: a
# second session.
TEXTS = [f"15{s:02d}" for s in range(10, 16)] + [f"00{s:02d}" for s in range(10)]


def frames(n: int, holder: sqlite3.Connection | None = None, lock: range = range(0), seen=None):
    """`n` frames; `holder` takes the database's write lock at the first frame of `lock` and lets go
    at its end; `seen(i)` is called before frame i is read."""
    for i in range(n):
        if holder is not None and i == lock.start:
            holder.execute("BEGIN IMMEDIATE")
        if holder is not None and i == lock.stop:
            holder.execute("ROLLBACK")
        if seen is not None:
            seen(i)
        yield Frame(np.full((48, 64, 3), 100, np.uint8), f"{i}.jpg", i, float(i))


def session_log(path, **kw) -> SessionLog:
    return SessionLog(open_db(path, lock_wait=0.2), "test", "fake", "time", **kw)


def read(log: SessionLog, texts: list[str], **kw) -> None:
    reader = Reader(FakeDetector([digits_at(t) for t in texts]), "time", dedup=DedupGate(enabled=False), use_crop=False)
    run(frames(len(texts), **kw), reader, log)


def stored(path) -> tuple[list, list]:
    db = open_db(path)
    readings = [tuple(r.values()) for r in db.query("SELECT id, frame, text, status, reason, session_id FROM readings ORDER BY id")]
    sessions = [tuple(r.values()) for r in db.query(
        "SELECT id, first_value, last_value, readings, status, end_reason FROM sessions ORDER BY id")]
    return readings, sessions


def test_a_lock_keeps_the_calls_and_writes_them_once_in_order_as_without_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(deferred, "RETRY_S", 0.0)  # try again at each frame, not once a second
    read(session_log(tmp_path / "plain.db"), TEXTS)
    path = tmp_path / "locked.db"
    log, holder, behind = session_log(path), sqlite3.connect(path, isolation_level=None), {}
    read(log, TEXTS, holder=holder, lock=range(1, 12), seen=lambda i: behind.setdefault(i, log.behind))
    # The first frame's verdict, the reset and the second session's opening came while it was
    # locked; each call was tried again and again, yet the database is the one no lock leaves.
    assert stored(path) == stored(tmp_path / "plain.db")
    readings, sessions = stored(path)
    assert len(readings) == len(TEXTS) and [s[5] for s in sessions] == ["reset", "source ended"]
    assert behind[5] and not behind[13]  # kept while locked, written while it read on
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "locked by another process" in warnings[0] and "free again" in warnings[1]
    events = list(open_db(path).query("SELECT kind, detail FROM events"))
    assert [e["kind"] for e in events] == ["db_locked"] and "written late" in events[0]["detail"]


def test_a_lock_longer_than_memory_allows_drops_the_oldest_frames_and_says_how_many(tmp_path, caplog):
    path = tmp_path / "s.db"
    log, holder = session_log(path, max_unwritten=10), sqlite3.connect(path, isolation_level=None)
    texts = [f"01{s:02d}" for s in range(40)]
    read(log, texts, holder=holder, lock=range(0, len(texts) - 1))
    readings, (session,) = stored(path)
    frames_kept = [r[1] for r in readings]
    assert log.dropped > 0 and frames_kept == [f"{i}.jpg" for i in range(len(texts) - len(frames_kept), len(texts))]
    assert {r[3] for r in readings} == {"accepted"} and session[3:] == (len(readings), "closed", "source ended")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w for w in warnings if "dropped from now on" in w] == [warnings[1]]  # once, after the lock began
    assert warnings[-1].endswith(f"the oldest {log.dropped} readings dropped")
    assert len(readings) + log.dropped == len(texts)  # every reading written or counted as dropped


def test_a_lock_still_held_when_the_read_ends_is_one_error_naming_what_is_lost(tmp_path):
    path = tmp_path / "s.db"
    log, holder = session_log(path), sqlite3.connect(path, isolation_level=None)
    with pytest.raises(StoreError, match=r"still locked by another process; the last 2 readings, kept in memory, are lost"):
        read(log, TEXTS[:4], holder=holder, lock=range(2, 99))
    holder.execute("ROLLBACK")
    assert [r[1] for r in stored(path)[0]] == ["0.jpg", "1.jpg"]


def test_a_full_disk_is_no_lock_it_ends_the_read_with_the_readings_before_it_kept(tmp_path, caplog):
    path = tmp_path / "s.db"
    db = open_db(path)
    log = SessionLog(db, "test", "fake", "time")
    # The database may not grow past its size now: a full disk, as SQLite reports it.
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    texts = [f"01{s % 60:02d}" for s in range(400)]
    reader = Reader(FakeDetector([digits_at(t) for t in texts]), "time", dedup=DedupGate(enabled=False), use_crop=False)
    with pytest.raises(StoreError, match="cannot write to the session database: database or disk is full"):
        run(frames(len(texts)), reader, log)
    readings, (session,) = stored(path)
    assert 0 < len(readings) == session[3] < len(texts)
    assert session[4:] == ("closed", "error: cannot write to the session database: database or disk is full")
    assert not [r for r in caplog.records if "locked" in r.getMessage()]


def test_each_session_closed_inside_a_lock_is_told_once_for_its_export(tmp_path, monkeypatch):
    # Two sessions end (the display stood still) while the database is locked: they open and close
    # in memory, and the service, which exports each closed session, must hear of both once the
    # lock lets go.
    monkeypatch.setattr(deferred, "RETRY_S", 0.0)
    still = [f"01{s:02d}" for s in range(6)] + ["0105"] * 5 + [f"01{s:02d}" for s in range(6, 10)] + ["0109"] * 5
    texts = still + [f"01{s:02d}" for s in range(10, 14)]
    path = tmp_path / "s.db"
    log, holder, told = session_log(path, idle=3.0), sqlite3.connect(path, isolation_level=None), {}
    read(log, texts, holder=holder, lock=range(1, 22), seen=lambda i: told.setdefault(i, log.take_ended()))
    _, sessions = stored(path)
    assert [s[5] for s in sessions] == ["idle", "idle", "source ended"]
    assert not any(ids for i, ids in told.items() if i <= 22)  # nothing written, so nothing closed yet
    assert sorted(i for ids in told.values() for i in ids) + log.take_ended() == [1, 2, 3]


def test_the_lock_event_says_how_long_the_lock_held_its_wait_included(tmp_path, monkeypatch):
    # The first write waits `lock_wait` for the lock before the reading goes on: the lock held
    # through that wait too, and `segread status` says so.
    monkeypatch.setattr(deferred, "RETRY_S", 0.0)
    path = tmp_path / "s.db"
    log = SessionLog(open_db(path, lock_wait=2.0), "test", "fake", "time")
    holder, held = sqlite3.connect(path, isolation_level=None), {}

    def seen(i):
        if i == 1:
            held["from"] = time.monotonic()
        if i == 3:
            held["for"] = time.monotonic() - held["from"]

    read(log, TEXTS[:5], holder=holder, lock=range(1, 3), seen=seen)
    (detail,) = [e["detail"] for e in open_db(path).query("SELECT detail FROM events WHERE kind = 'db_locked'")]
    said = float(detail.split()[2])  # "locked for N s: ..."
    assert said >= held["for"] - 0.6, (detail, held)
