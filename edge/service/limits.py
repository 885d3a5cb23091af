"""Keep what the service stores bounded: queued frame images and the database's size.

Queued frames live in the review stage's `review_items` (image paths relative to the database's
folder). Over the limit, the oldest reviewed items go first (a person already answered them),
then the oldest pending ones. The database is measured by the pages in use (freed pages are
reused, so the file stops growing); over the limit, the oldest reviewed items, then held
readings, then old events, then the readings of the oldest closed sessions are deleted (their
session summary rows stay).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

log = logging.getLogger(__name__)

REVIEWED = "status != 'pending'"
BATCH = 500


def used_mb(db: sqlite_utils.Database) -> float:
    page_count = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    return (page_count - free) * size / 1e6


def free_mb(folder: Path) -> float:
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free / 1e6


def queued_frames(db: sqlite_utils.Database) -> int:
    if "review_items" not in db.table_names():
        return 0
    return db.execute("SELECT count(*) FROM review_items WHERE image IS NOT NULL AND image != ''").fetchone()[0]


def _delete_items(db: sqlite_utils.Database, base: Path, where: str, limit: int, keep_rows: bool = False) -> int:
    """Drop the images of the oldest items matching `where`; with keep_rows the item rows, their
    pre-labels and every decision stay (only the picture goes), else the rows go too."""
    rows = list(db.query(
        f"SELECT id, image FROM review_items WHERE image IS NOT NULL AND image != '' AND {where} ORDER BY id LIMIT ?", [limit]
    ))
    if not rows:
        return 0
    ids = [r["id"] for r in rows]
    marks = ",".join("?" * len(ids))
    with db.atomic():
        if keep_rows:
            db.execute(f"UPDATE review_items SET image = NULL WHERE id IN ({marks})", ids)
        else:
            if "review_decisions" in db.table_names():
                db.execute(f"DELETE FROM review_decisions WHERE item_id IN ({marks})", ids)
            db.execute(f"DELETE FROM review_items WHERE id IN ({marks})", ids)
    for r in rows:  # files after the commit: a crash leaves an orphan file, never a dangling row
        (base / r["image"]).unlink(missing_ok=True)
    return len(rows)


def prune_frames(db: sqlite_utils.Database, db_path: Path, max_frames: int) -> int:
    """Delete queued frame images beyond `max_frames`, oldest reviewed first; how many went.
    The items' rows, pre-labels and decisions are kept."""
    over = queued_frames(db) - max_frames
    removed = 0
    base = Path(db_path).parent
    for where in (REVIEWED, "1"):
        while over > 0:
            n = _delete_items(db, base, where, min(over, BATCH), keep_rows=True)
            if n == 0:
                break
            removed += n
            over -= n
    return removed


def _db_steps(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    tables = set(db.table_names())
    steps = []
    if "review_items" in tables:
        steps.append(("reviewed items", REVIEWED))
    steps += [
        ("held readings", f"DELETE FROM readings WHERE id IN (SELECT id FROM readings WHERE status = 'held' ORDER BY id LIMIT {BATCH})"),
        ("events", f"DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT {BATCH})"),
        ("readings of closed sessions", (
            f"DELETE FROM readings WHERE id IN (SELECT r.id FROM readings r JOIN sessions s ON s.id = r.session_id "
            f"WHERE s.status = 'closed' ORDER BY r.id LIMIT {BATCH})"
        )),
    ]
    return steps


def prune_db(db: sqlite_utils.Database, db_path: Path, max_mb: float) -> dict[str, int]:
    """Delete the oldest expendable rows until the pages in use fit `max_mb`; counts per kind."""
    removed: dict[str, int] = {}
    base = Path(db_path).parent
    for kind, what in _db_steps(db):
        while used_mb(db) > max_mb:
            if kind == "reviewed items":
                n = _delete_items(db, base, what, BATCH)
            else:
                with db.atomic():
                    n = db.execute(what).rowcount
            if n <= 0:
                break
            removed[kind] = removed.get(kind, 0) + n
        if used_mb(db) <= max_mb:
            break
    return removed


@dataclass(frozen=True)
class Pruned:
    """What one check of the limits deleted, and where the database stands after it."""

    frames: int  # queued frame images
    rows: dict[str, int]  # database rows, per kind (`_db_steps`)
    used_mb: float
    max_mb: float
    max_frames: int

    @property
    def over(self) -> bool:
        """Still over the size limit: what is left is never pruned (the open session's readings,
        every session's summary row, pending items' rows)."""
        return self.used_mb > self.max_mb

    @property
    def only_notes(self) -> bool:
        """Only events went: over the limit, the service's own notes since the last check."""
        return not self.frames and set(self.rows) <= {"events"}

    def summary(self) -> str:
        parts = [f"{self.frames} queued frames (limit {self.max_frames})"] if self.frames else []
        parts += [f"{n} {kind}" for kind, n in self.rows.items()]
        still = "; still over: the rest is never pruned" if self.over else ""
        return "pruned " + ", ".join(parts) + f"; database {self.used_mb:.3g} MB in use (limit {self.max_mb:g} MB){still}"


def enforce(db: sqlite_utils.Database, db_path: Path, max_mb: float, max_frames: int) -> Pruned | None:
    """Apply both limits; what was pruned, or None when nothing was."""
    frames = prune_frames(db, db_path, max_frames)
    rows = prune_db(db, db_path, max_mb)
    if not frames and not rows:
        return None
    return Pruned(frames, rows, used_mb(db), max_mb, max_frames)
