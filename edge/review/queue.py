"""The review queue in the session database, fed by the read loop.

    queue = ReviewQueue.for_reader(db, reader, session_log)
    run(source, reader, session_log, on_result=queue.consider)

Each chosen frame is saved as a JPEG in `<db stem>-frames/` beside the database (written and
fsynced first), then its row is committed, all before the next frame is read. A full disk stops
queueing, says so once, and reading goes on.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Callable

import cv2
import sqlite_utils

from edge.capture import Frame
from edge.deferred import locked
from edge.files import write_bytes
from edge.reading import DisplayFormat
from edge.result import FrameResult
from edge.review.select import Candidate, SelectConfig, Selector
from edge.review.suggest import Suggester

log = logging.getLogger(__name__)


def db_file(db: sqlite_utils.Database) -> Path | None:
    """The main database file, or None for an in-memory database."""
    for _, name, path in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and path:
            return Path(path)
    return None


def frames_folder(db: sqlite_utils.Database) -> Path:
    """`<db stem>-frames/` next to the database (the working folder for an in-memory one)."""
    path = db_file(db)
    return path.parent / f"{path.stem}-frames" if path else Path("segread-frames")


def image_path(db: sqlite_utils.Database, stored: str) -> Path:
    """A stored image path made absolute: stored paths are relative to the database's folder."""
    p = Path(stored)
    if p.is_absolute():
        return p
    base = db_file(db)
    return (base.parent if base else Path.cwd()) / p


def recent_hashes(db: sqlite_utils.Database, limit: int) -> list[tuple[int, str]]:
    """(display hash, digits of the boxes left to right) of the last `limit` queued items, oldest first."""
    rows = db.execute(
        "SELECT phash, prelabels FROM review_items WHERE phash IS NOT NULL ORDER BY id DESC LIMIT ?", [limit]
    ).fetchall()
    found = []
    for phash, prelabels in reversed(rows):
        boxes = sorted(json.loads(prelabels or "[]"), key=lambda b: b["xyxy"][0])
        found.append((int(phash, 16), "".join(str(b["digit"]) for b in boxes)))
    return found


# A queued item the queue may still thin: nobody answered it, nor took it to a labeling tool.
THINNABLE = "status = 'pending' AND exported IS NULL"


def earlier_hour(db: sqlite_utils.Database, now: float | None = None) -> list[tuple[float, int]]:
    """(seconds ago, id) of the items queued in the last hour of wall time and not thinned since, oldest first."""
    now = time.time() if now is None else now
    try:
        rows = db.execute(
            "SELECT created, id FROM review_items WHERE created > ? AND status != 'thinned' ORDER BY created, id",
            [now - 3600.0]
        ).fetchall()
    except sqlite3.Error:
        return []
    return [(now - created, item_id) for created, item_id in rows]


class ReviewQueue:
    """Decides per read frame whether it enters the queue, and stores it when it does."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        model: str | Callable[[], str] = "",
        fmt: DisplayFormat | str = "time",
        config: SelectConfig | None = None,
        frames_dir: Path | None = None,
        session=None,
        jpeg_quality: int = 92,
    ) -> None:
        self.db = db
        self.fmt = DisplayFormat.parse(fmt) if isinstance(fmt, str) else fmt
        self.config = config or SelectConfig()
        self._model = model if callable(model) else (lambda: model)
        self.frames_dir = Path(frames_dir) if frames_dir else frames_folder(db)
        self.session = session
        self.jpeg_quality = jpeg_quality
        self.selector = Selector(self.config, self.fmt.n_digits, recent_hashes(db, self.config.recent_hashes),
                                 self._thinnable, earlier_hour(db))
        self.suggester = Suggester(self.fmt)
        self.stored = 0
        self.thinned = 0  # stored items a later frame replaced, to keep a full hour spread
        self.stopped: str | None = None  # why queueing stopped (a full disk); reading goes on

    @classmethod
    def for_reader(cls, db, reader, session=None, config: SelectConfig | None = None, **kw) -> "ReviewQueue":
        """A queue that records the reader's current model (it may be swapped while reading)."""
        return cls(db, lambda: reader.detector.model_id, reader.fmt, config, session=session, **kw)

    def consider(self, frame: Frame, result: FrameResult) -> list[int]:
        """The read loop's `on_result`: queue this frame (or the one before it) when chosen; return new ids."""
        session_id = getattr(self.session, "session_id", None)
        ids = []
        if self.stopped is None:
            for candidate in self.selector.update(frame, result, session_id):
                item_id = self._store(candidate, session_id)
                if item_id is None:
                    self.selector.forget(candidate)
                    break
                self.selector.stored(candidate, item_id)
                if candidate.thins is not None:
                    self._thin(candidate.thins[1])
                ids.append(item_id)
                reading = candidate.result.reading  # a candidate always has a reading
                if reading.suggestion:  # the session doubts this reading and says what it showed: neighbours on its track would not
                    self._suggest([(item_id, reading.suggestion)])
                elif not reading.other_quantity:  # a stroke count's neighbours are times: they say nothing of it
                    hint = reading.expected  # the track's time it reads like
                    if hint:  # said at once; its neighbours narrow to it or overrule it when they come
                        self._suggest([(item_id, hint)])
                    self._suggest(self.suggester.wait(item_id, candidate.result.t, hint))
        self._suggest(self.suggester.update(result))
        return ids

    def live_text(self) -> str:
        """A few words for the live status line: how many were queued, and any limit or stop."""
        text = f"  queued {self.stored}"
        if self.stopped:
            return text + f" (queue stopped: {self.stopped})"
        sel = self.selector
        if sel.limit_hit:
            return text + f" (queue limit {sel.limit_hit}, {sel.limited} not queued)"
        if self.thinned or sel.crowded:
            return text + f" ({self.thinned} thinned, {sel.crowded} left out to keep the hour spread)"
        return text

    def summary(self) -> str:
        """One line for the end of a read: how many were queued, and what kept others out."""
        sel = self.selector
        text = f"queued {self.stored} frame(s) for review ({sel.duplicates} near-duplicates left out"
        if self.thinned or sel.crowded:
            text += f", {self.thinned} of them thinned and {sel.crowded} left out to keep a full hour spread"
        if sel.limited:
            text += f", {sel.limited} over the {sel.limit_hit or 'queue'} limit"
        text += ")"
        return text + (f"; queueing stopped: {self.stopped}" if self.stopped else "")

    def _name(self, frame: Frame) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(frame.name).stem)[:60] or "frame"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.frames_dir / f"{stamp}-{safe}.jpg"
        n = 1
        while path.exists():
            n += 1
            path = self.frames_dir / f"{stamp}-{safe}-{n}.jpg"
        return path

    def _store(self, c: Candidate, session_id) -> int | None:
        ok, jpeg = cv2.imencode(".jpg", c.frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            log.warning("review queue: could not encode frame %s as JPEG; not queued", c.frame.name)
            return None
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
            path = self._name(c.frame)
            write_bytes(path, jpeg.tobytes())
        except OSError as exc:
            why = "disk full" if exc.errno == errno.ENOSPC else f"cannot write frames to {self.frames_dir}: {exc.strerror or exc}"
            self._stop(why)
            return None
        base = db_file(self.db)
        stored_path = os.path.relpath(path, base.parent) if base else str(path.resolve())
        r = c.result.reading
        h, w = c.frame.image.shape[:2]
        row = {
            "created": time.time(), "session_id": session_id, "t": c.result.t, "frame": c.frame.name,
            "image": stored_path, "width": w, "height": h, "model": self._model(),
            "reasons": "; ".join(c.reasons), "prelabels": json.dumps(r.digits.to_list()), "text": r.text,
            "status_read": c.result.status, "format": str(self.fmt), "suggestion": None, "status": "pending", "phash": f"{c.phash:016x}",
        }
        try:
            with self.db.atomic():
                table = self.db["review_items"]
                table.insert(row)
                item_id = table.last_pk
        except sqlite3.Error as exc:
            path.unlink(missing_ok=True)
            if not locked(exc):  # another process holds the database for a while: only this frame goes unqueued
                self._stop(f"cannot write the queue to the database: {exc}")
            return None
        self.stored += 1
        return item_id

    def _thinnable(self, item_ids: list[int]) -> set[int]:
        """Of these items, the ones still pending and never exported (a person may be labeling those)."""
        if not item_ids:
            return set()
        marks = ",".join("?" * len(item_ids))
        try:
            rows = self.db.execute(
                f"SELECT id FROM review_items WHERE id IN ({marks}) AND {THINNABLE}", item_ids
            ).fetchall()
        except sqlite3.Error:
            return set()
        return {r[0] for r in rows}

    def _thin(self, item_id: int) -> None:
        """Mark a pending item `thinned` and delete its frame (the row stays, so the history is whole)."""
        try:
            with self.db.atomic():
                row = self.db.execute(
                    f"SELECT image FROM review_items WHERE id = ? AND {THINNABLE}", [item_id]
                ).fetchone()
                if row is None:
                    return  # answered or exported since it was chosen: it stays
                self.db.execute("UPDATE review_items SET status = 'thinned' WHERE id = ?", [item_id])
        except sqlite3.Error as exc:
            log.warning("review queue: could not thin item %s: %s", item_id, exc)
            return
        self.thinned += 1
        try:
            image_path(self.db, row[0]).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("review queue: thinned item %s, but could not delete its frame: %s", item_id, exc)

    def _suggest(self, settled: list[tuple[int, str]]) -> None:
        if not settled or self.stopped:
            return
        try:
            with self.db.atomic():
                for item_id, suggestion in settled:
                    self.db.execute(
                        "UPDATE review_items SET suggestion = ? WHERE id = ? AND status = 'pending'", [suggestion, item_id]
                    )
        except sqlite3.Error as exc:
            log.warning("review queue: could not store suggestions: %s", exc)

    def _stop(self, why: str) -> None:
        self.stopped = why
        log.error("review queue stopped: %s; reading goes on without queueing frames", why)
        try:
            with self.db.atomic():
                self.db["events"].insert(
                    {"wall": time.time(), "kind": "review-queue-stopped", "detail": why,
                     "session_id": getattr(self.session, "session_id", None)}
                )
        except sqlite3.Error:
            pass


class QueueLiveLine:
    """Wraps the read loop's live line: every status text gets the queue's count, limit or stop."""

    def __init__(self, line, queue: ReviewQueue) -> None:
        self.line, self.queue = line, queue

    def show(self, text: str, force: bool = False) -> None:
        self.line.show(text + self.queue.live_text(), force)

    def done(self) -> None:
        self.line.done()
