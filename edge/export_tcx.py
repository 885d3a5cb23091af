"""A logged session as Garmin Training Center XML (TCX v2), the workout file Strava and Garmin take.

One Activity (Sport="Other": TCX knows no rowing), one Lap. For a time display the lap's
TotalTimeSeconds is what the display advanced over the session (rollovers included), otherwise
the wall-clock span; one Trackpoint per change of the display, stamped with the wall clock at
which it was read, except in a session read faster than it ran (`read_faster`). Written with the
standard library only. The session's CSV and JSON rows (`export_rows`) come from here too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import sqlite_utils

from edge import __version__
from edge.files import write_bytes
from edge.reading import show_value
from edge.store import session_readings, show_when

NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# `shown` and `elapsed` last: a script that reads the first columns by place reads them as before.
CSV_FIELDS = ["wall", "t", "frame", "text", "value", "confidence", "status", "reason", "shown", "elapsed"]


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def display_advance(values: list[float]) -> list[float]:
    """How far a time display had advanced at each of `values` since the first, counting a wrap
    (99:59 -> 00:00) forward. A small step back is a fading segment, not time: the display stands
    where it had got to, and the next step counts from there (10:01, 10:02, 10:01, 10:03 is 2 s)."""
    if not values:
        return []
    total, out, peak = 0.0, [0.0], values[0]
    for b in values[1:]:
        step = b - peak
        if step < -60:  # a rollover
            step += 6000 if peak >= 5940 else 3600 if peak < 3600 else 5940
        if step > 0:
            total, peak = total + step, b
        out.append(total)
    return out


def display_seconds(values: list[float]) -> float:
    """How far a time display advanced over `values`."""
    return display_advance(values)[-1] if values else 0.0


def read_faster(rows: list[dict]) -> bool:
    """Whether a session's readings were taken in under half the time their frames span (a
    folder or video recorded earlier and read at full speed): its wall clock says when it was
    read, not when the workout ran. run3's folder, read in 11 s, spans 299 s."""
    if len(rows) < 2:
        return False
    ran, took = rows[-1]["t"] - rows[0]["t"], rows[-1]["wall"] - rows[0]["wall"]
    return ran > 0 and took < 0.5 * ran


def session_tcx(db: sqlite_utils.Database, session_id: int, start_at: float | None = None,
                warn: Callable[[str], None] | None = None) -> str:
    """The TCX document of one session, as text. Its times are the wall clock at which each
    reading was taken; with `start_at` (unix seconds: a folder or video recorded earlier, read
    later and faster than it ran) the workout starts then and each point lies where the display
    says (a time display's advance; another display's frame times). A session read faster than
    it ran is laid out so from when it was read, without `start_at`: its points at the wall
    clock would make an 11-second workout of a 5-minute one in a tool that times the track, while
    the lap says 5 minutes; `warn` is told so."""
    session = db["sessions"].get(session_id)
    rows = session_readings(db, session_id, accepted_only=True)
    values = [r["value"] for r in rows if r["value"] is not None]
    if start_at is None and read_faster(rows):
        start_at = rows[0]["wall"]
        if warn is not None:
            warn(f"session {session_id} was read faster than its frames ran: its points lie where the display puts "
                 f"them, from when it was read ({show_when(session['started_at'])}); --start-at gives the workout's own start")
    if start_at is None:
        times = [r["wall"] for r in rows]
    elif session["format"] == "time" and len(values) == len(rows):
        times = [start_at + a for a in display_advance(values)]
    else:
        times = [start_at + r["t"] - rows[0]["t"] for r in rows]
    start = times[0] if rows else (start_at if start_at is not None else session["started_at"])
    end = times[-1] if rows else (session["ended_at"] or start)
    if session["format"] == "time" and len(values) > 1:
        total = display_seconds(values)
    else:
        total = max(end - start, 0.0)

    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}TrainingCenterDatabase", {f"{{{XSI}}}schemaLocation": f"{NS} {NS}/TrainingCenterDatabasev2.xsd"})
    activity = ET.SubElement(ET.SubElement(root, f"{{{NS}}}Activities"), f"{{{NS}}}Activity", Sport="Other")
    ET.SubElement(activity, f"{{{NS}}}Id").text = _iso(start)
    lap = ET.SubElement(activity, f"{{{NS}}}Lap", StartTime=_iso(start))
    for tag, text in (("TotalTimeSeconds", f"{total:.1f}"), ("DistanceMeters", "0"), ("Calories", "0"),
                      ("Intensity", "Active"), ("TriggerMethod", "Manual")):
        ET.SubElement(lap, f"{{{NS}}}{tag}").text = text
    # A point per change of the display, each later than the last (a small step back, a fading
    # segment, lies where the display put the step before it); no Track without a point, which
    # the schema refuses.
    track, last, last_when = None, object(), -math.inf
    for r, when in zip(rows, times):
        if r["value"] == last or when <= last_when:
            continue
        last, last_when = r["value"], when
        track = ET.SubElement(lap, f"{{{NS}}}Track") if track is None else track
        ET.SubElement(ET.SubElement(track, f"{{{NS}}}Trackpoint"), f"{{{NS}}}Time").text = _iso(when)
    shown = (f"{show_value(values[0], session['format'])} -> {show_value(values[-1], session['format'])}"
             if values else "no readings")
    ET.SubElement(lap, f"{{{NS}}}Notes").text = f"segread session {session_id}: display {shown} ({session['format']})"
    # Device_t wants a unit id, a product id and a version beside the name (the schema refused a
    # Creator of a name alone); segread is no Garmin unit, so both ids are 0.
    creator = ET.SubElement(activity, f"{{{NS}}}Creator", {f"{{{XSI}}}type": "Device_t"})
    for tag, text in (("Name", "segread"), ("UnitId", "0"), ("ProductID", "0")):
        ET.SubElement(creator, f"{{{NS}}}{tag}").text = text
    version = ET.SubElement(creator, f"{{{NS}}}Version")
    major, minor = (__version__.split(".") + ["0"])[:2]
    ET.SubElement(version, f"{{{NS}}}VersionMajor").text = major
    ET.SubElement(version, f"{{{NS}}}VersionMinor").text = minor
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def export_rows(db: sqlite_utils.Database, session_id: int, include_held: bool = False) -> list[dict]:
    """A session's readings as its CSV and JSON exports give them, each with `shown`, the reading
    as the display shows it ("00:01", which a spreadsheet keeps as text where `text` 0001 becomes
    1), and `elapsed`, the seconds a time display advanced from the session's first accepted
    reading, a rollover counted forward (an accepted reading's; else None)."""
    spec = db["sessions"].get(session_id)["format"]
    rows = session_readings(db, session_id, accepted_only=not include_held)
    timed = [spec == "time" and r["status"] == "accepted" and r["value"] is not None for r in rows]
    advance = iter(display_advance([r["value"] for r, took in zip(rows, timed) if took]))
    for r, took in zip(rows, timed):
        r["shown"] = show_value(r["value"], spec) if r["value"] is not None else ""
        r["elapsed"] = round(next(advance), 1) if took else None
    return rows


def session_csv(db: sqlite_utils.Database, session_id: int, include_held: bool = False) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(export_rows(db, session_id, include_held))
    return out.getvalue()


def export_session(db: sqlite_utils.Database, session_id: int, folder: Path, formats=("csv", "tcx")) -> list[Path]:
    """Write `session-<id>-<date>.csv/.tcx` into `folder` (atomically); the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    session = db["sessions"].get(session_id)
    stamp = dt.datetime.fromtimestamp(session["started_at"]).strftime("%Y%m%d-%H%M")
    written = []
    for fmt in formats:
        text = session_tcx(db, session_id) if fmt == "tcx" else session_csv(db, session_id)
        path = folder / f"session-{session_id:05d}-{stamp}.{fmt}"
        write_bytes(path, text.encode())
        written.append(path)
    return written
