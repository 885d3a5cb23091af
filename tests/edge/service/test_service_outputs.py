"""Session exports (CSV, TCX), `segread sessions export --tcx`, and the storage limits."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edge.cli import main
from edge.detections import Detections
from edge.export_tcx import NS, display_seconds, export_session
from edge.result import FrameResult
from edge.reading import Reading
from edge.service import limits
from edge.store import SessionLog, open_db

T = f"{{{NS}}}"


def log_workout(db, values, fmt="time"):
    log = SessionLog(db, source="test", model="m", fmt=fmt)
    empty = Detections.empty()
    for i, v in enumerate(values):
        text = f"{int(v) // 60:02d}{int(v) % 60:02d}"
        r = Reading(text, float(v), 0.9, empty, "accepted", None)
        log.record(FrameResult(str(i), i, float(i), "accepted", r, "crop", 1.0))
    return log


def test_tcx_has_one_activity_lap_with_display_time_and_trackpoints(tmp_path):
    db = open_db(tmp_path / "s.db")
    log = log_workout(db, [60, 60, 61, 62, 63, 65])
    sid = log.session_id
    log.close("idle")
    paths = export_session(db, sid, tmp_path / "exports")
    assert sorted(p.suffix for p in paths) == [".csv", ".tcx"]
    root = ET.parse(next(p for p in paths if p.suffix == ".tcx")).getroot()
    (activity,) = root.iter(T + "Activity")
    assert activity.get("Sport") == "Other"
    (lap,) = activity.iter(T + "Lap")
    assert float(lap.find(T + "TotalTimeSeconds").text) == 5.0
    times = [tp.find(T + "Time").text for tp in lap.iter(T + "Trackpoint")]
    assert len(times) == 5 and all(t.endswith("Z") for t in times)  # one per change of the display
    assert "01:00 -> 01:05" in lap.find(T + "Notes").text
    csv_text = next(p for p in paths if p.suffix == ".csv").read_text().splitlines()
    assert csv_text[0].startswith("wall,t,frame,text") and len(csv_text) == 7


def test_an_export_cut_by_a_full_disk_keeps_the_earlier_file_and_leaves_no_part_file(tmp_path, monkeypatch):
    from pathlib import Path

    db = open_db(tmp_path / "s.db")
    log = log_workout(db, [60, 61, 62])
    sid = log.session_id
    log.close("idle")
    folder = tmp_path / "exports"
    first = {p: p.read_bytes() for p in export_session(db, sid, folder)}
    real = Path.write_bytes

    def half_then_full(self, data):  # the disk fills up half way through each file
        real(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(OSError, match="No space"):
        export_session(db, sid, folder)
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in folder.iterdir()} == first  # whole, and nothing else


def test_display_seconds_counts_a_rollover_forward():
    assert display_seconds([5998, 5999, 0, 1]) == 3
    assert display_seconds([10, 9, 10, 11]) == 1  # a fading segment is not time going back, nor forward again


def test_sessions_export_tcx_command(tmp_path, capsys):
    db_path = tmp_path / "s.db"
    log = log_workout(open_db(db_path), [0, 1, 2])
    log.close()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<?xml") and "TrainingCenterDatabase" in out and "<TotalTimeSeconds>2.0<" in out


def test_a_workout_read_later_is_exported_at_the_time_it_was_rowed(tmp_path, capsys):
    # A folder recorded on the 1st and read today, faster than it ran: with --start-at the TCX
    # starts then, and each point lies where the display puts it (here across a rollover).
    import datetime as dt

    db_path = tmp_path / "s.db"
    log_workout(open_db(db_path), [5997, 5998, 5998, 5999, 1, 3]).close()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx", "--start-at", "2026-12-01 07:30"]) == 0
    root = ET.fromstring(capsys.readouterr().out.split("\n", 1)[1])
    start = dt.datetime(2026, 12, 1, 7, 30).astimezone(dt.timezone.utc)
    (activity,) = root.iter(T + "Activity")
    assert activity.find(T + "Id").text == start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    times = [dt.datetime.strptime(tp.find(T + "Time").text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
             for tp in root.iter(T + "Trackpoint")]
    assert [(t - start).total_seconds() for t in times] == [0, 1, 2, 4, 6]
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx", "--start-at", "yesterday"]) == 2
    assert "'yesterday' is no date and time" in capsys.readouterr().err
    assert main(["sessions", "--db", str(db_path), "export", "1", "--csv", "--start-at", "2026-12-01 07:30"]) == 2
    assert "--start-at goes with --tcx" in capsys.readouterr().err


def _tcx_offsets(text: str) -> tuple[float, list[float]]:
    """A TCX document's lap time and its trackpoints' seconds from the first."""
    import datetime as dt

    root = ET.fromstring(text.split("\n", 1)[1])
    times = [dt.datetime.strptime(tp.find(T + "Time").text, "%Y-%m-%dT%H:%M:%S.%fZ") for tp in root.iter(T + "Trackpoint")]
    return float(next(root.iter(T + "TotalTimeSeconds")).text), [(t - times[0]).total_seconds() for t in times]


def test_a_workout_read_faster_than_it_ran_is_laid_out_as_the_display_ran_and_told(tmp_path, capsys):
    # A folder read in a blink: at the wall clock its track would last milliseconds while its lap
    # says 6 s, and a tool that times the track (Strava does) would show the blink.
    db_path = tmp_path / "s.db"
    db = open_db(db_path)
    log_workout(db, [5997, 5998, 5998, 5999, 1, 3]).close()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx"]) == 0
    captured = capsys.readouterr()
    assert _tcx_offsets(captured.out) == (6.0, [0, 1, 2, 4, 6])
    (warning,) = captured.err.splitlines()
    assert warning.startswith("segread: warning: session 1 was read faster than its frames ran") and "--start-at" in warning
    # Read live, the wall clock is the workout's: its points stay where they were read, unwarned.
    db.execute("UPDATE readings SET wall = 1764577800 + 1.5 * t")
    db.conn.commit()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx"]) == 0
    captured = capsys.readouterr()
    assert _tcx_offsets(captured.out) == (6.0, [0, 1.5, 4.5, 6, 7.5]) and captured.err == ""


def test_a_step_back_adds_no_point_at_the_time_of_the_last_and_no_points_make_no_track(tmp_path, capsys):
    # 10:01, 10:02, 10:01 (a fading segment), 10:03: laid out by the display, the step back would
    # stand at 10:02's time; tools want each point later than the last.
    db_path = tmp_path / "s.db"
    db = open_db(db_path)
    log_workout(db, [601, 602, 601, 603]).close()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx", "--start-at", "2026-12-01 07:30"]) == 0
    assert _tcx_offsets(capsys.readouterr().out) == (2.0, [0, 1, 2])
    # A session with no accepted reading: a lap without a Track (the schema refuses an empty one).
    db.execute("UPDATE readings SET status = 'held'")
    db.conn.commit()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx"]) == 0
    root = ET.fromstring(capsys.readouterr().out.split("\n", 1)[1])
    assert next(root.iter(T + "Lap")).find(T + "Track") is None


def test_the_tcx_creator_is_a_whole_device(tmp_path, capsys):
    # TCX v2's Device_t: Name, UnitId, ProductID, Version (VersionMajor, VersionMinor), in that
    # order; a Creator of a name alone failed the schema.
    db_path = tmp_path / "s.db"
    log_workout(open_db(db_path), [0, 1, 2]).close()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--tcx"]) == 0
    root = ET.fromstring(capsys.readouterr().out.split("\n", 1)[1])
    (creator,) = root.iter(T + "Creator")
    assert [c.tag[len(T):] for c in creator] == ["Name", "UnitId", "ProductID", "Version"]
    assert [c.tag[len(T):] for c in creator.find(T + "Version")] == ["VersionMajor", "VersionMinor"]
    assert all(c.text.isdigit() for c in [*creator][1:3] + [*creator.find(T + "Version")])


def test_csv_and_json_rows_show_the_display_and_the_time_it_advanced(tmp_path, capsys):
    # A spreadsheet reads `text` 0001 as 1, and `value` falls from 5999 to 1 at the rollover: each
    # row also says what the display showed, as text, and the seconds since the session's start.
    import csv
    import json

    db_path = tmp_path / "s.db"
    log_workout(open_db(db_path), [5997, 5998, 5999, 1, 3]).close()
    assert main(["sessions", "--db", str(db_path), "export", "1", "--csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [r["shown"] for r in rows] == ["99:57", "99:58", "99:59", "00:01", "00:03"]
    assert [float(r["elapsed"]) for r in rows] == [0, 1, 2, 4, 6]
    assert main(["sessions", "--db", str(db_path), "export", "1", "--json"]) == 0
    readings = json.loads(capsys.readouterr().out)["readings"]
    assert [(r["shown"], r["elapsed"]) for r in readings][-2:] == [("00:01", 4.0), ("00:03", 6.0)]


def add_items(db, base, n, status):
    (base / "frames").mkdir(exist_ok=True)
    for _ in range(n):
        pk = db["review_items"].insert({"status": status, "image": None}).last_pk
        rel = f"frames/{pk}.jpg"
        (base / rel).write_bytes(b"x" * 100)
        db["review_items"].update(pk, {"image": rel})


def test_queued_frames_pruned_oldest_reviewed_first(tmp_path):
    db = open_db(tmp_path / "s.db")
    if "review_items" not in db.table_names():
        pytest.skip("the review queue's table (migration m003) is not in this checkout")
    add_items(db, tmp_path, 3, "pending")
    add_items(db, tmp_path, 4, "accepted")
    add_items(db, tmp_path, 2, "pending")
    db["review_decisions"].insert({"item_id": 4, "action": "accept", "who": "ann"})
    assert limits.prune_frames(db, tmp_path / "s.db", 5) == 4
    left = list(db.query("SELECT id, status, image FROM review_items WHERE image IS NOT NULL ORDER BY id"))
    assert [r["status"] for r in left] == ["pending"] * 5
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == sorted(f"{r['id']}.jpg" for r in left)
    # Only the pictures went: every item row and every decision is still there.
    assert db["review_items"].count == 9 and db["review_decisions"].count == 1
    assert limits.prune_frames(db, tmp_path / "s.db", 3) == 2  # then the oldest pending
    assert [r["id"] for r in db.query("SELECT id FROM review_items WHERE image IS NOT NULL ORDER BY id")] == [3, 8, 9]


def test_database_bounded_by_pruning_held_readings_then_closed_sessions(tmp_path):
    db = open_db(tmp_path / "s.db")
    log = SessionLog(db, source="t", model="m", fmt="time")
    digits = Detections(np.zeros((4, 4), np.float32), np.full(4, 0.9, np.float32), [0, 1, 2, 3])
    for i in range(3000):
        status = "held" if i % 2 else "accepted"
        r = Reading("0000", float(i // 2), 0.9, digits, status, None if status == "accepted" else "low confidence")
        log.record(FrameResult(str(i), i, float(i // 2), status, r, "crop", 1.0))
    log.close()
    before = limits.used_mb(db)
    target = before * 0.6
    pruned = limits.enforce(db, tmp_path / "s.db", target, 100)
    assert "held readings" in pruned.summary() and not pruned.over
    assert limits.used_mb(db) <= target
    assert db["sessions"].count == 1  # the summary row stays
    assert db.execute("SELECT count(*) FROM readings WHERE status = 'held'").fetchone()[0] == 0
    assert limits.enforce(db, tmp_path / "s.db", target, 100) is None
