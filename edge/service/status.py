"""The heartbeat a running service writes every few seconds, and what `segread status` shows.

The service updates one row of `service_status`; the database is in WAL mode, so `segread status`
reads it (and the sessions, readings and events) while the service writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Callable

import sqlite_utils

from edge.deferred import locked
from edge.reading import show_value
from edge.store import show_when
from edge.writer import pid_alive, writer_gone


@dataclass
class Heartbeat:
    db: sqlite_utils.Database
    every: float = 5.0
    clock: Callable[[], float] = time.monotonic
    started_at: float = field(default_factory=time.time)
    _next: float = 0.0

    def beat(self, state: str, detail: "dict | Callable[[], dict]", force: bool = False) -> bool:
        """Write the status row when due; `detail` may be a callable, built only then."""
        now = self.clock()
        if not force and now < self._next:
            return False
        if callable(detail):
            detail = detail()
        self._next = now + self.every
        try:
            with self.db.atomic():
                self.db["service_status"].upsert(
                    {"id": 1, "pid": os.getpid(), "started_at": self.started_at, "updated_at": time.time(),
                     "state": state, "detail": json.dumps(detail)},
                    pk="id",
                )
        except sqlite3.OperationalError as exc:
            if not locked(exc):
                raise
            return False  # another process holds the database (the session log says so): the next beat tells
        return True


def read_status(db: sqlite_utils.Database, events: int = 5, stale_after: float = 30.0) -> dict:
    """The service row, current session, last reading, reading count and last events, as one dict."""
    tables = set(db.table_names())
    out: dict = {"service": None, "session": None, "last_reading": None, "readings": 0, "events": []}
    if "service_status" in tables:
        row = next(db.query("SELECT * FROM service_status WHERE id = 1"), None)
        if row is not None:
            row["detail"] = json.loads(row["detail"] or "{}")
            age = time.time() - (row["updated_at"] or 0)
            row["age_s"] = round(age, 1)
            stale = max(stale_after, 3 * float(row["detail"].get("heartbeat_s") or 0))  # a slow heartbeat's
            if row["state"] not in ("stopped",) and (age > stale or not pid_alive(row["pid"])):
                row["state"] = f"not running (last seen {row['state']} {age:.0f} s ago)"
            out["service"] = row
    if "sessions" in tables:
        out["session"] = next(db.query("SELECT * FROM sessions WHERE status = 'open' ORDER BY id DESC LIMIT 1"), None)
        out["last_session"] = next(db.query("SELECT * FROM sessions ORDER BY id DESC LIMIT 1"), None)
    if "readings" in tables:
        out["last_reading"] = next(db.query(
            "SELECT r.wall, r.t, r.text, r.value, r.confidence, r.model, s.format FROM readings r "
            "LEFT JOIN sessions s ON s.id = r.session_id WHERE r.status = 'accepted' ORDER BY r.id DESC LIMIT 1"
        ), None)
        out["readings"] = db.execute("SELECT count(*) FROM readings WHERE status = 'accepted'").fetchone()[0]
    if "events" in tables:
        out["events"] = list(db.query("SELECT wall, kind, detail FROM events ORDER BY id DESC LIMIT ?", [events]))
    return out


def format_status(status: dict) -> list[str]:
    """Human lines for `segread status`."""
    lines = []
    svc = status["service"]
    if svc is None:
        lines.append("service: never ran against this database")
    else:
        d = svc["detail"]
        lines.append(
            f"service: {svc['state']}  pid {svc['pid']}  up {_span(svc['updated_at'] - svc['started_at'])}  "
            f"model {d.get('model', '-')}  {d.get('fps', 0):.1f} fps  frames {d.get('frames', 0)}  "
            f"dropped {d.get('dropped', 0)}  outages {d.get('outages', 0)}  queue {d.get('queue', 0)}"
        )
        if d.get("source"):  # what it reads: after a reload that switched cameras, the new one
            lines.append(f"source: {d['source']}")
        if d.get("out_of_focus"):  # nothing is logged until a person focuses the camera
            lines.append(f"camera: {d['out_of_focus']}")
    s = status["session"]
    if s is not None:
        gone = " (writer gone)" if writer_gone(s.get("writer")) else ""  # a `segread read` the disk stopped, say
        lines.append(
            f"session {s['id']}: open{gone} since {show_when(s['started_at'])}, {show_value(s['first_value'], s['format'])} -> "
            f"{show_value(s['last_value'], s['format'])}, {s['readings']} readings"
        )
    else:
        last = status.get("last_session")
        lines.append("session: none open" + (f" (last: {last['id']}, {last['end_reason'] or last['status']})" if last else ""))
    r = status["last_reading"]
    lines.append(
        f"last reading: {show_value(r['value'], r['format']) if r['format'] else r['text']} at "
        f"{show_when(r['wall'], seconds=True)} (conf {r['confidence']:.2f}, {r['model']})" if r else "last reading: none"
    )
    lines.append(f"accepted readings: {status['readings']}")
    for e in status["events"]:
        lines.append(f"  {show_when(e['wall'], seconds=True)}  {e['kind']}: {e['detail']}")
    return lines


def _span(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
