"""The session database's schema: ordered migrations, each applied once, in one transaction.

A database records the migrations it has seen (`_migrations`); `edge.store.open_db` runs the ones
it has not, so an older segread's database is brought up to date as it is opened.
"""

from __future__ import annotations

import time
from typing import Callable

import sqlite_utils

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_sessions_and_readings(db: sqlite_utils.Database) -> None:
    db["sessions"].create(
        {
            "id": int,
            "started_at": float,  # wall clock, unix seconds
            "ended_at": float,
            "source": str,
            "model": str,
            "format": str,
            "first_value": float,
            "last_value": float,
            "readings": int,
            "status": str,  # "open" | "closed"
            "end_reason": str,
        },
        pk="id",
    )
    db["readings"].create(
        {
            "id": int,
            "session_id": int,
            "wall": float,  # wall clock, unix seconds
            "t": float,  # seconds on the source's clock
            "frame": str,
            "text": str,
            "value": float,
            "confidence": float,
            "status": str,  # "accepted" | "held"
            "reason": str,
            "digits": str,  # JSON list of {"digit", "conf", "xyxy"}
            "model": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
    )
    db["readings"].create_index(["session_id", "status"])


@migration
def m002_events(db: sqlite_utils.Database) -> None:
    """Outages, model swaps, full disks: what happened besides readings."""
    db["events"].create({"id": int, "wall": float, "kind": str, "detail": str, "session_id": int}, pk="id")


def migrate(db: sqlite_utils.Database) -> None:
    """Run the migrations the database has not seen, each in one write transaction that first
    looks again: two processes opening a new database at once (a service and `segread status`)
    apply each migration once, the second waiting for the first."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for fn in MIGRATIONS:
        if db.execute("SELECT 1 FROM _migrations WHERE name = ?", [fn.__name__]).fetchone():
            continue
        db.execute("BEGIN IMMEDIATE")  # the connection commits each statement itself otherwise
        try:
            if not db.execute("SELECT 1 FROM _migrations WHERE name = ?", [fn.__name__]).fetchone():
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", [fn.__name__, time.time()])
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:  # a full disk rolls it back itself: its error is the one to tell
                db.execute("ROLLBACK")
            raise


@migration
def m003_review_queue(db: sqlite_utils.Database) -> None:
    """The review queue: frames the reader was unsure of, and every decision a person made on them."""
    db["review_items"].create(
        {
            "id": int,
            "created": float,  # wall clock, unix seconds
            "session_id": int,
            "t": float,  # seconds on the source's clock
            "frame": str,
            "image": str,  # JPEG path, relative to the database's folder
            "width": int,
            "height": int,
            "model": str,
            "reasons": str,  # "; "-joined
            "prelabels": str,  # JSON list of {"digit", "conf", "xyxy"} in frame pixels, never changed
            "text": str,  # what the reader read (held or accepted)
            "status_read": str,  # the reader's verdict: "accepted" | "held"
            "format": str,  # the display format read: "time" | "digits:N"
            "suggestion": str,  # candidate texts from the sequence, "|"-joined
            "status": str,  # "pending" | "accepted" | "fixed" | "skipped"
            "phash": str,  # 64-bit dHash of the display crop, hex
        },
        pk="id",
    )
    db["review_items"].create_index(["status"])
    db["review_decisions"].create(
        {"id": int, "item_id": int, "action": str, "digits": str, "labels": str, "who": str, "wall": float},
        pk="id",
        foreign_keys=[("item_id", "review_items", "id")],
    )
    db["review_decisions"].create_index(["item_id"])


@migration
def m004_service_status(db: sqlite_utils.Database) -> None:
    """The running service's heartbeat, one row per service (id 1), read by `segread status`."""
    db["service_status"].create(
        {"id": int, "pid": int, "started_at": float, "updated_at": float, "state": str, "detail": str}, pk="id"
    )


@migration
def m005_review_exported(db: sqlite_utils.Database) -> None:
    """When a review item was last exported for a labeling tool: the queue never thins such an item
    (a person may be labeling it), only pending ones nobody has seen outside segread."""
    db["review_items"].add_column("exported", float)


@migration
def m006_session_writer(db: sqlite_utils.Database) -> None:
    """The process writing each session (`edge.writer`), so that a later one closes a session only
    once its writer is gone."""
    db["sessions"].add_column("writer", str)
