import dataclasses
import io
import json
import subprocess
import sqlite3
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import FolderSource
from edge.cli import main
from edge.pipeline import Reader
from edge.reading import DisplayFormat
from edge.run import LiveLine, run, spacing_hint
from edge.store import SessionLog, list_sessions, open_db, session_readings
from tests.conftest import FakeDetector, digits_at, read_only


def _frames(folder, n):
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.jpg"), np.full((120, 320, 3), 90 + (i % 2) * 40, np.uint8))
    return folder


def _read(tmp_path, texts, db_name="s.db", log=None, interval=1.0):
    det = FakeDetector([digits_at(t) if t else digits_at("") for t in texts])
    reader = Reader(det, "time", use_crop=False)
    tmp_path.mkdir(exist_ok=True)
    db = open_db(tmp_path / db_name)
    log = log or SessionLog(db, "test", "fake", "time")
    run(FolderSource(_frames(tmp_path / "frames", len(texts)), interval=interval), reader, log)
    return db, reader


def test_a_folder_further_apart_than_stamped_is_read_and_the_interval_it_looks_is_suggested(tmp_path):
    time = DisplayFormat.parse("time")
    texts = [time.text(95 * 60 + 24 + 6 * k) for k in range(12)]  # captured 6 s apart
    _, reader = _read(tmp_path, texts)
    assert reader.stats.accepted >= 10
    assert spacing_hint(reader, 1.0).endswith("--interval 6.0 stamps them as the display shows")
    # Frames stamped as captured: nothing to suggest.
    _, stamped = _read(tmp_path / "b", texts[:], interval=6.0)
    assert stamped.stats.accepted >= 10 and spacing_hint(stamped, 6.0) is None


def test_session_log_holds_every_reading_and_one_session_across_rollover(tmp_path):
    db, reader = _read(tmp_path, ["9858", "9859", "0000", "0001", "4702", "0003"])
    sessions = list_sessions(db)
    assert len(sessions) == 1
    s = sessions[0]
    assert (s["first_value"], s["last_value"], s["readings"], s["status"]) == (98 * 60 + 58, 3, 5, "closed")
    rows = session_readings(db, s["id"])
    assert [r["text"] for r in rows] == ["9858", "9859", "0000", "0001", "0003"]
    held = list(db.query("select text, reason from readings where status = 'held'"))
    assert held[0]["text"] == "4702" and held[0]["reason"].startswith("sequence")


def test_a_reset_starts_a_new_session(tmp_path):
    # A track read 6 times moves to the reset once it kept the clock for 8 s (00:00 ... 00:08).
    db, _ = _read(tmp_path, [f"15{s:02d}" for s in range(10, 16)] + [f"00{s:02d}" for s in range(10)])
    sessions = list_sessions(db)
    assert len(sessions) == 2
    assert sessions[0]["end_reason"] == "reset" and (sessions[0]["first_value"], sessions[0]["last_value"]) == (910, 915)
    assert (sessions[1]["first_value"], sessions[1]["last_value"]) == (8, 9)


def test_a_track_read_too_seldom_is_withdrawn_not_a_session(tmp_path):
    # A workout that starts in SCAN mode: the total count (31:21, 31:22) is read before the time.
    # The time re-anchors the sequence before the count's track had its support: one session, of
    # the time; the count's readings stay logged, held, with the reason.
    texts = ["3121", "3121", "3122", "3122", "1", "1", "1015", "1016", "1017", "1018", "1019"]
    log = SessionLog(open_db(tmp_path / "s.db"), "test", "fake", "time")
    db, reader = _read(tmp_path, texts, log=log)
    (session,) = list_sessions(db)
    assert (session["first_value"], session["last_value"], session["readings"]) == (617, 619, 3)
    assert log.withdrawn == 4 and reader.stats.accepted == 7  # what `segread read` reports
    assert [r["text"] for r in session_readings(db, session["id"])] == ["1017", "1018", "1019"]
    withdrawn = list(db.query("SELECT text, reason FROM readings WHERE reason LIKE '%withdrawn%' ORDER BY id"))
    assert [r["text"] for r in withdrawn] == ["3121", "3121", "3122", "3122"]
    assert "the session re-anchored on 10:17" in withdrawn[0]["reason"]


def _read_jsonl(tmp_path, texts):
    det = FakeDetector([digits_at(t) for t in texts])
    reader = Reader(det, "time", use_crop=False)
    db = open_db(tmp_path / "s.db")
    out = io.StringIO()
    run(FolderSource(_frames(tmp_path / "frames", len(texts)), interval=1.0), reader, SessionLog(db, "test", "fake", "time"),
        jsonl=out)
    return db, reader, [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_misread_first_frame_never_becomes_the_sessions_start(tmp_path):
    # 95:24 misread as 32:11 on the first frame: nothing follows it; 95:25 waits for 95:26, then counts.
    db, reader, records = _read_jsonl(tmp_path, ["3211", "9525", "9526", "9527"])
    assert [r["frame"] for r in records] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]  # one each, in input order
    assert [r["status"] for r in records] == ["held", "accepted", "accepted", "accepted"]
    assert "could not be checked" in records[0]["reason"] and "confirmed" in records[1]["flags"]
    (session,) = list_sessions(db)
    assert (session["first_value"], session["last_value"], session["readings"]) == (95 * 60 + 25, 95 * 60 + 27, 3)
    rows = list(db.query("SELECT status, reason, session_id FROM readings ORDER BY id"))
    assert [r["status"] for r in rows] == ["held", "accepted", "accepted", "accepted"]
    assert rows[0]["reason"] == records[0]["reason"] and {r["session_id"] for r in rows[1:]} == {session["id"]}
    assert (reader.stats.accepted, reader.stats.held) == (3, 1)


def test_a_second_writer_on_the_database_keeps_its_own_readings(tmp_path):
    # `segread serve` and a hand-run `segread read` may log to one database: a first reading's
    # verdict, revised once the next follows it, moves only this log's rows into its session.
    class Interleaved(SessionLog):
        def record(self, result):
            super().record(result)
            other.record(dataclasses.replace(result, frame=f"other-{result.frame}"))

    path = tmp_path / "s.db"
    other = SessionLog(open_db(path), "other", "fake", "time")
    db, _ = _read(tmp_path, ["9524", "9525", "9526", "9527"], log=Interleaved(open_db(path), "this", "fake", "time"))
    rows = list(db.query("SELECT frame, status, session_id FROM readings ORDER BY id"))
    mine = [r for r in rows if not r["frame"].startswith("other-")]
    theirs = [r for r in rows if r["frame"].startswith("other-")]
    assert [r["status"] for r in mine] == ["accepted"] * 4 and len({r["session_id"] for r in mine}) == 1
    assert mine[0]["session_id"] not in {r["session_id"] for r in theirs}
    sessions = {s["id"]: s for s in list_sessions(db)}
    assert sessions[mine[0]["session_id"]]["readings"] == 4
    for sid in {r["session_id"] for r in theirs} - {None}:
        assert sessions[sid]["readings"] == sum(r["session_id"] == sid for r in theirs)


def test_the_first_frame_after_a_gap_is_logged_accepted_once_the_next_follows_it(tmp_path):
    # A folder at run3's pace (1.5 a guessed second) with 9 s of frames left out after 95:16: 95:27
    # runs ahead and waits; 95:28 follows it, so both count. A misread running ahead that nothing
    # follows (95:39 for 95:33) stays held, for the reason it was held.
    values = [95 * 60 + (3 * k) // 2 for k in range(26)]
    del values[12:18]
    texts = [f"{v // 60:02d}{v % 60:02d}" for v in values]
    texts[16] = "9539"
    db, reader, records = _read_jsonl(tmp_path, texts)
    assert [r["frame"] for r in records] == [f"{i}.jpg" for i in range(len(texts))]
    assert records[12]["status"] == "accepted" and "followed" in records[12]["flags"]
    assert "jump-confirmed" in records[13]["flags"]
    assert records[16]["status"] == "held" and "runs ahead of 95:31" in records[16]["reason"]
    assert all(r["status"] == "accepted" for i, r in enumerate(records) if i != 16)
    (session,) = list_sessions(db)
    assert session["readings"] == len(texts) - 1
    rows = list(db.query("SELECT status, reason FROM readings ORDER BY id"))
    assert rows[12]["status"] == "accepted" and rows[16]["reason"] == records[16]["reason"]


def test_a_long_pause_read_every_5_s_is_logged_accepted(tmp_path):
    # Dedup reads an unchanged display every 5 s: each frame of a pause falls behind the clock and
    # waits; the next, showing the same time, follows it, and both are logged accepted.
    texts = ["1300", "1305", "1310", "1315"] + ["1315"] * 8 + ["1317", "1322", "1327"]
    det = FakeDetector([digits_at(t) for t in texts])
    db = open_db(tmp_path / "s.db")
    out = io.StringIO()
    run(FolderSource(_frames(tmp_path / "frames", len(texts)), interval=5.0), Reader(det, "time", use_crop=False),
        SessionLog(db, "test", "fake", "time"), jsonl=out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["status"] for r in records] == ["accepted"] * len(texts), [r["reason"] for r in records]
    assert sum("followed" in r["flags"] for r in records) >= 4
    assert [r["status"] for r in db.query("SELECT status FROM readings")] == ["accepted"] * len(texts)


def test_a_first_pair_the_steady_digits_doubt_is_held_for_review(tmp_path):
    # Dim light: the leading 9 of 95:24... reads 3, 4, 9 or 5 in turn, so no two frames in a row
    # agree until 35:32, 35:33. The frames before voted on that place: their segments make a 9.
    texts = [lead + "5" + str(24 + k) for k, lead in enumerate("3495349533")]
    db, _, records = _read_jsonl(tmp_path, texts)
    assert all(r["status"] == "held" for r in records)
    assert "unsteady" in records[8]["reason"] and records[8]["suggestion"] == "9532"
    assert "unsteady" in records[9]["reason"]
    assert list_sessions(db) == []  # nothing accepted: no session starts on the misread 35:xx


def test_a_first_reading_that_nothing_follows_stays_held_and_says_why(tmp_path):
    db, _, records = _read_jsonl(tmp_path, ["0755"])
    assert [(r["status"], r["reading"]) for r in records] == [("held", None)]
    assert records[0]["reason"] == "sequence: 07:55 could not be checked: no frame read after it followed it"
    assert [r["reason"] for r in db.query("SELECT reason FROM readings")] == [records[0]["reason"]]
    assert list_sessions(db) == []


def test_migrations_run_once_and_wal_is_on(tmp_path):
    db = open_db(tmp_path / "a.db")
    db2 = open_db(tmp_path / "a.db")
    names = [r[0] for r in db2.execute("select name from _migrations").fetchall()]
    assert len(names) == len(set(names)) >= 2
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "_write_check" not in db2.table_names()  # the write check leaves nothing in a user's database


@pytest.fixture
def read_only_db(tmp_path):
    """A database holding one session that nobody, root included, may write to."""
    db, _ = _read(tmp_path, ["0100", "0101"], db_name="ro.db")
    db.conn.close()
    path = tmp_path / "ro.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")  # fold the WAL into the file, as a stopped reader leaves it
    conn.close()
    with read_only(path):
        yield path


@pytest.fixture
def read_only_db_folder(tmp_path):
    """A stopped reader's database (one session, WAL) in a folder that nobody, root included, may
    write to: SQLite cannot make the shared-memory file a WAL reader needs there."""
    folder = tmp_path / "ro"
    db, _ = _read(folder, ["0100", "0101"])
    db.conn.close()
    with read_only(folder):
        yield folder / "s.db"


def test_sessions_are_listed_and_exported_from_a_database_it_may_only_read(read_only_db_folder, capsys):
    # The service's database is its own user's; a person in its group lists and exports it.
    assert main(["sessions", "--db", str(read_only_db_folder)]) == 0
    assert "01:00 -> 01:01" in capsys.readouterr().out
    assert main(["sessions", "--db", str(read_only_db_folder), "export", "1", "--csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert sorted(p.name for p in read_only_db_folder.parent.iterdir()) == ["frames", "s.db"]


def test_a_jsonl_it_cannot_write_is_one_line_and_the_log_keeps_what_was_read(tmp_path, tiny_onnx, capsys):
    frames = _frames(tmp_path / "frames", 3)
    db = tmp_path / "s.db"
    assert main(["read", str(frames), "--model", str(tiny_onnx), "--db", str(db), "--no-dedup", "--jsonl", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"segread: error: cannot write {tmp_path}: Is a directory"]
    # A full disk while the frames are read: the readings logged so far stay, the session closes.
    assert main(["read", str(frames), "--model", str(tiny_onnx), "--db", str(db), "--no-dedup", "--jsonl", "/dev/full"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "segread: error: cannot write /dev/full: No space left on device"
    assert not any("Traceback" in line for line in err)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] >= 1
    assert conn.execute("SELECT count(*) FROM sessions WHERE status = 'open'").fetchone()[0] == 0


def test_sessions_export_takes_one_format_and_a_session_id_sqlite_can_hold(tmp_path, capsys):
    _read(tmp_path, ["0100", "0101", "0103"])
    db = str(tmp_path / "s.db")
    assert main(["sessions", "--db", db, "export", "1", "--csv", "--json"]) == 2
    assert "choose one of --csv, --json and --tcx" in capsys.readouterr().err
    assert main(["sessions", "--db", db, "export", str(10**22)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_read_only_database_is_one_line_exit_2_and_loses_nothing(tmp_path, read_only_db, tiny_onnx, capsys):
    frames = _frames(tmp_path / "more", 2)
    capsys.readouterr()
    assert main(["read", str(frames), "--model", str(tiny_onnx), "--db", str(read_only_db), "--no-dedup"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segread: error: cannot open database")
    rows = sqlite3.connect(f"file:{read_only_db}?mode=ro", uri=True).execute(
        "select count(*) from readings where status = 'accepted'").fetchone()
    assert rows[0] == 2


def test_cli_read_writes_jsonl_per_frame_and_logs_sessions(tmp_path, tiny_onnx, capsys):
    frames = _frames(tmp_path / "frames", 3)
    (frames / "3.jpg").write_bytes(b"garbage")
    out = tmp_path / "out.jsonl"
    rc = main(["read", str(frames), "--model", str(tiny_onnx), "--db", str(tmp_path / "s.db"), "--no-dedup", "--jsonl", str(out)])
    assert rc == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == ["0.jpg", "1.jpg", "2.jpg"]
    assert set(records[0]) == {"frame", "t", "status", "reading", "value", "confidence", "reason", "digits", "flags",
                               "suggestion"}
    assert all(r["status"] in ("accepted", "held") for r in records)
    for r in records:
        assert (r["reading"] is None) == (r["status"] != "accepted")
    err = capsys.readouterr().err
    assert "skipped 1 unreadable image" in err
    # What it reads with, and on what, is the first thing it says.
    assert err.splitlines()[0] == f"segread: reading {frames} with {Path(tiny_onnx).stem} on CPU"


@pytest.mark.parametrize(
    "args, message",
    [
        (["read", "{frames}", "--model", "{tmp}/missing.onnx"], "model not found"),
        (["read", "{tmp}/nowhere", "--model", "{model}"], "nowhere': no such file or folder"),
        (["read", "nosuch.jpg", "--model", "{model}"], "source 'nosuch.jpg': no such file or folder"),
        (["read", "webcam", "--model", "{model}"], "is not a folder, an image, a video file, a camera index or a stream URL"),
        (["read", "{frames}", "--model", "{model}", "--db", "{tmp}/dir.db/x/../"], "cannot open database"),
        (["sessions", "--db", "{tmp}/missing.db"], "no database at"),
        (["evaluate", "{tmp}/missing.onnx", "--data", "{tmp}"], "model not found"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(tmp_path, tiny_onnx, capsys, args, message):
    frames = _frames(tmp_path / "frames", 1)
    (tmp_path / "dir.db").mkdir()
    args = [a.format(tmp=tmp_path, frames=frames, model=tiny_onnx) for a in args]
    if args[0] == "read" and "--db" not in args:
        args += ["--db", str(tmp_path / "s.db")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("segread: error:")


def test_a_video_file_it_cannot_open_is_one_line_on_stderr(tmp_path, tiny_onnx):
    # FFmpeg's own complaint would come first on the process's stderr; only segread's line shows.
    (tmp_path / "empty.mp4").write_bytes(b"")
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "read", str(tmp_path / "empty.mp4"), "--model", str(tiny_onnx),
         "--db", str(tmp_path / "s.db")], capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"segread: error: cannot open video source '{tmp_path / 'empty.mp4'}'"]


def test_sessions_list_and_export(tmp_path, capsys):
    db, _ = _read(tmp_path, ["0100", "0101", "0103"])
    capsys.readouterr()
    assert main(["sessions", "--db", str(tmp_path / "s.db")]) == 0
    assert "01:00 -> 01:03" in capsys.readouterr().out
    assert main(["sessions", "--db", str(tmp_path / "s.db"), "export", "1", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("wall,t,frame,text") and len(lines) == 4
    assert main(["sessions", "--db", str(tmp_path / "s.db"), "export", "1", "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert len(exported["readings"]) == 3
    # The file goes to other people and tools: this machine's name and boot are not in it.
    assert exported["session"]["first_value"] == 60 and "writer" not in exported["session"]
    assert main(["sessions", "--db", str(tmp_path / "s.db"), "export", "9"]) == 2
    assert main(["sessions", "--db", str(tmp_path / "s.db"), "export", "99999999999999999999"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("no session 99999999999999999999")


def test_the_live_line_to_a_log_ends_with_the_last_frame_once():
    # Not a terminal (a log, a pipe): a line every few seconds, and the last frame's at the end,
    # not twice when it was the last line written (one image read on its own).
    live = LiveLine(stream=io.StringIO(), every=3600)
    live.show("frame 0")
    live.show("frame 0", force=True)
    assert live.stream.getvalue().splitlines() == ["frame 0"]
    live.show("frame 1")
    live.show("frame 2")
    live.show("frame 2", force=True)
    assert live.stream.getvalue().splitlines() == ["frame 0", "frame 2"]
