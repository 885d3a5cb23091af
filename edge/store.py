"""The session log: SQLite through sqlite-utils, WAL, schema by ordered migrations (`edge.schema`).

Every accepted or held reading is committed before the next frame is read, so a kill at any
moment leaves a database that opens with every reading accepted before it (or kept in memory while
another process holds the database's lock, and written in order once it lets go: `edge.deferred`).
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from pathlib import Path

import sqlite_utils

from edge.deferred import LOCK_WAIT_S, DeferredWrites, locked
from edge.errors import DatabaseLocked, StoreError
from edge.reading import show_value
from edge.schema import MIGRATIONS, migrate
from edge.writer import describe_writer, this_writer, writer_gone, writer_role

SQLITE_IDS = range(-(2**63), 2**63)  # SQLite's INTEGER: an id outside it names no row (and SQLite could not be asked)


def open_db(path: str | Path, readonly: bool = False, lock_wait: float = LOCK_WAIT_S) -> sqlite_utils.Database:
    """Open (creating if needed) the database and run the migrations it has not seen; `readonly`,
    an existing one as it is, for the commands that only look (`open_readonly`). A write waits
    `lock_wait` seconds for another process's lock."""
    if readonly:
        return open_readonly(path)
    path, conn = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=lock_wait, isolation_level=None)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db)
        # Prove we can write before the first frame is read, not after; leave nothing behind.
        with db.atomic():  # one write: a failed DROP leaves no table behind
            db.execute("CREATE TABLE IF NOT EXISTS _write_check (x)")
            db.execute("DROP TABLE _write_check")
    except (sqlite3.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        error = DatabaseLocked if locked(exc) else StoreError
        raise error(f"cannot open database {path} for writing: {exc}") from None
    return db


def open_readonly(path: str | Path) -> sqlite_utils.Database:
    """An existing database opened read-only: listing sessions or the queue needs no write access
    (the service's database is its own user's; its group may read it). A WAL database in a folder
    the reader cannot write needs its shared-memory file, which SQLite cannot make there: it is
    then read as it stands on disk (`immutable`), as a stopped reader left it."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no database at {path}")
    uri = path.resolve().as_uri()
    for query in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=10, isolation_level=None)
            tracked = conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_migrations'").fetchone()
            done = {row[0] for row in conn.execute("SELECT name FROM _migrations")} if tracked else None
            break
        except sqlite3.Error as exc:
            error = exc
    else:
        raise StoreError(f"cannot read database {path}: {error}")
    if done is not None and {fn.__name__ for fn in MIGRATIONS} - done:  # an older segread's: bring it up to date
        try:
            return open_db(path)
        except StoreError:  # where this user may not: read what it holds
            pass
    return sqlite_utils.Database(conn)


class SessionLog(DeferredWrites):
    """Writes readings and groups them into rowing sessions.

    A session opens at the first accepted reading; a new one starts when the time resets (the
    value drops and it is no rollover) or after `gap` seconds without an accepted reading; a
    session closes after `idle` seconds without the value changing. A reading that re-anchors the
    sequence away from a track that was never the time (flagged `supersedes`: read too seldom, or
    between the readings that take over; a total count read first in a workout that starts in
    SCAN mode, then the time) withdraws that track's readings from the open session: they stay
    logged, held, with the reason, and a session left with no reading starts over at the new
    track instead of ending as a reset.

    Each call is one transaction, kept in memory while another process holds the database and
    written in order later (`DeferredWrites`): `session_id` is the session the database holds so far.
    """

    STATE = ("session_id", "_last_value", "_last_accepted_t", "_last_change_t", "_rows", "_track_row", "withdrawn", "ended")
    CONTEXT = ("model", "fmt")
    DROPPABLE = ("_record", "_revise", "_tick")  # a frame's; never a session's close or an event

    def __init__(self, db: sqlite_utils.Database, source: str, model: str, fmt: str, gap: float = 120.0, idle: float = 90.0,
                 max_unwritten: int = 20_000, role: str = "read"):
        super().__init__(db, max_unwritten)
        self.source, self.model, self.fmt = source, model, fmt
        self.role = role  # the command writing: "read" or "serve" (`edge.writer`)
        self.gap, self.idle = gap, idle
        self.session_id: int | None = None
        self.ended: list[int] = []  # sessions closed since the owner last took them (`take_ended`)
        self._last_value: float | None = None
        self._last_accepted_t: float | None = None
        self._last_change_t: float | None = None
        self._rows: deque = deque(maxlen=8)  # (frame, t, row id) of the last readings logged
        self._track_row: int | None = None  # row id of the first accepted reading of the sequence's track
        self.withdrawn = 0  # accepted readings withdrawn since (`supersedes`)

    def record(self, result) -> None:
        """Log one read frame (a pipeline FrameResult); skipped frames are only counted elsewhere."""
        if result.reading is not None:
            self._call(self._record, result)

    def _record(self, result) -> None:
        r, now = result.reading, self.now
        if result.status == "accepted":
            if "supersedes" in r.flags:
                self._withdraw(r.value)
            self._advance(result.t, r.value, "re-anchored" in r.flags, now)
        row = {
            "session_id": self.session_id,
            "wall": now,
            "t": result.t,
            "frame": result.frame,
            "text": r.text,
            "value": r.value,
            "confidence": r.confidence,
            "status": result.status,
            "reason": r.reason,
            "digits": json.dumps(r.digits.to_list()),
            "model": self.model,
        }

        def write():
            table = self.db["readings"]
            table.insert(row)
            self._rows.append((result.frame, result.t, table.last_pk))
            if result.status == "accepted" and self.session_id is not None:
                self._count(r.value, now)

        self._write(write)
        if result.status == "accepted" and ("re-anchored" in r.flags or self._track_row is None):
            self._track_row = self._rows[-1][2]

    def _withdraw(self, value: float) -> None:
        """Withdraw the readings of the track a re-anchor on `value` superseded from the open session."""
        if self.session_id is None or self._track_row is None:
            return
        sid, since, kept, withdrawn = self.session_id, self._track_row, None, 0
        reason = (f"sequence: withdrawn: the session re-anchored on {show_value(value, self.fmt)}; this track "
                  "was never its time (read too seldom, or between readings of the time)")

        def write():
            nonlocal kept, withdrawn
            withdrawn = self.db.execute(
                "UPDATE readings SET status = 'held', reason = ? WHERE session_id = ? AND status = 'accepted' AND id >= ?",
                [reason, sid, since],
            ).rowcount
            kept = self.db.execute(
                "SELECT value FROM readings WHERE session_id = ? AND status = 'accepted' ORDER BY id DESC LIMIT 1", [sid]
            ).fetchone()
            if kept is None:  # nothing of the session is left: it starts over at the new track
                self.db.execute("UPDATE sessions SET first_value = ?, last_value = ?, readings = 0 WHERE id = ?", [value, value, sid])
            else:
                self.db.execute("UPDATE sessions SET last_value = ?, readings = readings - ? WHERE id = ?", [kept[0], withdrawn, sid])

        self._write(write)
        self._last_value = kept[0] if kept is not None else None
        self.withdrawn += withdrawn

    def _count(self, value: float, now: float) -> None:
        self.db.execute(
            "UPDATE sessions SET last_value = ?, readings = readings + 1, ended_at = ? WHERE id = ?",
            [value, now, self.session_id],
        )

    def revise(self, result) -> None:
        """Log the final verdict of a reading logged held while its verdict waited on the frames
        read after it (`FrameResult.settles`): accepted, it joins (or opens) the session as the
        reading it was; held, its reason changes. A frame that is not one of the last few logged
        is refused."""
        self._call(self._revise, result)

    def _revise(self, result) -> None:
        row_id = next((row for frame, t, row in self._rows if (frame, t) == (result.frame, result.t)), None)
        if row_id is None:
            if self.dropped:  # its reading was dropped in a long lock (`max_unwritten`): nothing to revise
                return
            raise ValueError(f"frame {result.frame} at t={result.t} is not one of the last readings logged")
        r, now = result.reading, self.now
        if result.status == "accepted":
            self._advance(result.t, r.value, False, now)
            if "confirmed" in r.flags:
                self._track_row = row_id  # a reading the session could not check starts a track

        def write():
            if result.status != "accepted":
                self.db.execute("UPDATE readings SET reason = ? WHERE id = ?", [r.reason, row_id])
                return
            self.db.execute("UPDATE readings SET status = 'accepted', reason = NULL WHERE id = ?", [row_id])
            # It and the frames this log wrote while it waited belong to the session it opened or
            # joined (not by id range alone: another process may write the same database).
            waited = [row for _, _, row in self._rows if row >= row_id]
            self.db.execute(f"UPDATE readings SET session_id = ? WHERE id IN ({', '.join('?' * len(waited))})",
                            [self.session_id, *waited])
            self._count(r.value, now)

        self._write(write)

    def tick(self, t: float) -> None:
        """Close the open session once the display stopped changing for `idle` seconds."""
        if self.unwritten and self.unwritten[-1].fn == self._tick:
            self.unwritten.pop()  # kept through a lock: the later tick closes the session if the earlier would
        self._call(self._tick, t)

    def _tick(self, t: float) -> None:
        if self.session_id is not None and self._last_change_t is not None and t - self._last_change_t > self.idle:
            self._close("idle")

    def _advance(self, t: float, value: float, reanchored: bool, now: float) -> None:
        new = self.session_id is None
        if not new and self._last_accepted_t is not None and t - self._last_accepted_t > self.gap:
            self._close("gap")
            new = True
        elif not new and reanchored and self._last_value is not None and value < self._last_value:
            self._close("reset")
            new = True
        if new:
            self._open(value, now)
        if value != self._last_value:
            self._last_change_t = t
        self._last_value, self._last_accepted_t = value, t

    def _open(self, value: float, now: float) -> None:
        def write():
            table = self.db["sessions"]
            table.insert(
                {
                    "started_at": now, "ended_at": now, "source": self.source, "model": self.model,
                    "format": self.fmt, "first_value": value, "last_value": value, "readings": 0,
                    "status": "open", "end_reason": None, "writer": this_writer(self.role),
                }
            )
            self.session_id = table.last_pk

        self._write(write)
        self._last_change_t = None

    def close(self, reason: str = "stopped") -> None:
        self._call(self._close, reason)

    def _close(self, reason: str) -> None:
        if self.session_id is None:
            return
        sid = self.session_id
        self._write(lambda: self.db.execute(
            "UPDATE sessions SET status = 'closed', end_reason = ? WHERE id = ?", [reason, sid]
        ))
        self.session_id = None
        self.ended.append(sid)

    def take_ended(self) -> list[int]:
        """The sessions closed since the last call, oldest first: each once, even where several
        opened and closed while a lock kept the writes in memory."""
        ended, self.ended = self.ended, []
        return ended

    def event(self, kind: str, detail: str) -> None:
        self._call(self._event, kind, detail)

    def _event(self, kind: str, detail: str) -> None:
        self._write(lambda: self.db["events"].insert(
            {"wall": self.now, "kind": kind, "detail": detail, "session_id": self.session_id}
        ))

    def unlocked(self, detail: str) -> None:
        self.event("db_locked", detail)  # `segread status` shows why the readings came late


def show_when(ts: float | None, seconds: bool = False) -> str:
    """A stored wall-clock time (unix seconds) in local time, for people."""
    import datetime as dt

    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")) if ts else "-"


def close_abandoned(db: sqlite_utils.Database, service: bool = False) -> list[int]:
    """Close as `interrupted` the open sessions whose writer is gone (`edge.writer`): killed, or
    stopped by a full disk, where closing its session failed too. A `segread read` leaves a dead
    service's session to the service, which exports what it closes at its next start; the service
    (`service`) closes every one, and those no writer was recorded for (an older segread's: no other
    service runs beside it). The ids closed."""
    closed = []
    for row in list(db.query("SELECT id, writer FROM sessions WHERE status = 'open'")):
        writer = row["writer"]
        if service:
            abandoned = writer is None or writer_gone(writer)
        else:
            abandoned = writer_gone(writer) and writer_role(writer) != "serve"
        if not abandoned:
            continue
        if _mark_interrupted(db, row["id"]):
            closed.append(row["id"])
    return closed


def _mark_interrupted(db: sqlite_utils.Database, session_id: int) -> bool:
    """Close an open session as `interrupted`; False where it was closed already (`status = 'open'`
    again: another writer starting may have closed it since it was looked at)."""
    try:
        return db.execute("UPDATE sessions SET status = 'closed', end_reason = 'interrupted' "
                          "WHERE id = ? AND status = 'open'", [session_id]).rowcount > 0
    except sqlite3.Error as exc:
        raise StoreError(f"cannot write to the session database: {exc}") from None


def close_session(db: sqlite_utils.Database, session_id: int, force: bool = False) -> bool:
    """Close an open session by hand as `interrupted`: one no start of `read` or `serve` will close
    (a killed service that is not started again, an older segread's with no writer recorded).
    A session whose writer still runs, or may (another host), is refused unless `force`. True when
    closed now, False when it was closed already; StoreError for no such session or a live writer."""
    row = next(iter(db.query("SELECT status, writer FROM sessions WHERE id = ?", [session_id])), None) \
        if session_id in SQLITE_IDS else None
    if row is None:
        raise StoreError(f"no session {session_id}")
    if row["status"] != "open":
        return False
    writer = row["writer"]
    if writer is not None and not writer_gone(writer) and not force:
        raise StoreError(f"session {session_id} is still written by {describe_writer(writer)}: stop it and it "
                         f"closes the session itself (--force closes it anyway)")
    return _mark_interrupted(db, session_id)


def list_sessions(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM sessions ORDER BY id"))


def session_readings(db: sqlite_utils.Database, session_id: int, accepted_only: bool = True) -> list[dict]:
    where = "session_id = ?" + (" AND status = 'accepted'" if accepted_only else "")
    return list(db.query(f"SELECT wall, t, frame, text, value, confidence, status, reason FROM readings WHERE {where} ORDER BY id", [session_id]))
