"""Writes that ride out another process's lock on the database.

A person's `sqlite3 segread.db` left in `BEGIN IMMEDIATE`, a long backup or a VACUUM can hold the
write lock for minutes. A write waits for it as long as the connection's busy timeout says
(`LOCK_WAIT_S`, `open_db(lock_wait=...)`); then the call is kept in memory, with every call after
it, and the reading goes on. Once the lock is gone they are written in the order they were made,
with the time they were made. One warning line says the lock began, one that it ended.

Each call is one transaction that takes the write lock before it writes (`BEGIN IMMEDIATE`): a call
the lock held up wrote nothing, what it changed in memory is put back (`STATE`), and when it runs
again it writes its rows once. A full disk or a read-only file is no lock: it is a StoreError at once.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import sqlite_utils

from edge.errors import StoreError

log = logging.getLogger(__name__)

LOCK_WAIT_S = 10.0  # how long a write waits for another process's lock before its call is kept for later
RETRY_S = 1.0  # while locked, seconds between tries to write what was kept; a try does not wait


def locked(exc: BaseException) -> bool:
    """Whether a write failed because another connection holds the write lock (SQLITE_BUSY): it
    may succeed later, unlike a full disk or a read-only file."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11 on; the message before
    return code & 0xFF == sqlite3.SQLITE_BUSY if code is not None else str(exc).startswith("database is locked")


@dataclass(frozen=True)
class Call:
    """A call as it was made: kept through a lock, it writes later what it would have written then."""

    fn: Callable[..., None]
    args: tuple
    wall: float  # unix seconds when it was made: the time its rows say
    context: dict  # the settings `DeferredWrites.CONTEXT` names, as they were


class DeferredWrites:
    """The session log's base: each call one transaction on one connection, kept in order through a lock.

    A subclass makes each public call through `_call(fn, *args)` and its writes inside it through
    `_write`, and a call reads its time from `self.now`. It names in `STATE` what a call changes
    in memory, in `CONTEXT` the settings a call uses as they were when it was made, and in
    `DROPPABLE` a frame's calls, which may be dropped, oldest first, when more than
    `max_unwritten` calls are kept: the first of them logs its reading, which `dropped` counts.
    """

    STATE: tuple[str, ...] = ()
    CONTEXT: tuple[str, ...] = ()
    DROPPABLE: tuple[str, ...] = ()

    def __init__(self, db: sqlite_utils.Database, max_unwritten: int = 20_000) -> None:
        self.db = db
        self.max_unwritten = max_unwritten
        self.unwritten: deque[Call] = deque()  # calls a lock held up, oldest first
        self.dropped = 0  # readings dropped beyond `max_unwritten`, since this log began
        self.now = time.time()
        self._locked_since: float | None = None
        self._next_try = 0.0
        self._wait_ms = 0  # the connection's busy timeout, put back once the lock is gone
        self._late = self._dropped_now = 0  # writes written late and readings dropped, in this lock
        self._dropping = False

    def _write(self, fn: Callable[[], None]) -> None:
        if not self.db.conn.in_transaction:
            self.db.conn.execute("BEGIN IMMEDIATE")  # the lock first: a call the lock holds up wrote nothing
        fn()

    def _call(self, fn: Callable[..., None], *args) -> None:
        call = Call(fn, args, time.time(), {k: getattr(self, k) for k in self.CONTEXT})
        self.unwritten.append(call)
        while len(self.unwritten) > self.max_unwritten and self._drop_oldest():
            pass
        if self._locked_since is None or time.monotonic() >= self._next_try:
            self._catch_up()

    def _drop_oldest(self) -> bool:
        i = next((i for i, c in enumerate(self.unwritten) if c.fn.__name__ in self.DROPPABLE), None)
        if i is None:
            return False
        if not self._dropping:
            self._dropping = True
            log.warning("the session database is still locked and %d writes are kept in memory: the oldest frames' "
                        "readings are dropped from now on, counted when the lock ends", self.max_unwritten)
        if self.unwritten[i].fn.__name__ == self.DROPPABLE[0]:
            self.dropped += 1
            self._dropped_now += 1
        del self.unwritten[i]
        return True

    def _catch_up(self) -> None:
        while self.unwritten:
            try:
                written = self._apply(self.unwritten[0])
            except BaseException:
                self.unwritten.popleft()  # failed for good (a full disk): raised, as ever, and not tried again
                raise
            if not written:
                if self._locked_since is None:
                    self._lock_began(self.unwritten[0].wall)
                self._next_try = time.monotonic() + RETRY_S
                return
            self.unwritten.popleft()
        if self._locked_since is not None:
            self._lock_ended()

    def _apply(self, call: Call) -> bool:
        """Run one call as one transaction; False, with nothing written and this log as it was,
        when the database is locked."""
        saved = {k: getattr(self, k) for k in self.STATE}
        saved = {k: v.copy() if isinstance(v, (deque, list)) else v for k, v in saved.items()}
        live = {k: getattr(self, k) for k in self.CONTEXT}
        vars(self).update(call.context)
        self.now = call.wall
        try:
            call.fn(*call.args)
            if self.db.conn.in_transaction:
                self.db.conn.execute("COMMIT")
                self._late += self._locked_since is not None
        except BaseException as exc:
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
            vars(self).update(saved)
            if locked(exc):
                return False
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot write to the session database: {exc}") from None
            raise
        finally:
            vars(self).update(live)
        return True

    def _lock_began(self, since: float) -> None:
        """`since`: when the call the lock held up was made, before it waited for the lock."""
        self._locked_since, self._late, self._dropped_now, self._dropping = since, 0, 0, False
        self._wait_ms = self.db.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        self._wait(0)  # nothing on this connection waits for it meanwhile: the reading must go on
        log.warning("the session database is locked by another process: reading goes on, and what cannot be "
                    "written is kept in memory (at most %d writes) until the lock is gone", self.max_unwritten)

    def _lock_ended(self) -> None:
        took = time.time() - self._locked_since
        self._locked_since = None
        self._wait(self._wait_ms)
        dropped = f", the oldest {self._dropped_now} readings dropped" if self._dropping else ""
        detail = f"locked for {took:.0f} s: {self._late} writes kept in memory written late{dropped}"
        log.warning("the session database is free again: %s", detail)
        self.unlocked(detail)

    def _wait(self, ms: int) -> None:
        self.db.conn.execute(f"PRAGMA busy_timeout = {int(ms)}")

    def unlocked(self, detail: str) -> None:
        """Called once what a lock kept is written; `detail` says how long it held and what was kept."""

    @property
    def behind(self) -> bool:
        """Whether calls wait in memory for the database."""
        return bool(self.unwritten)

    def flush(self) -> None:
        """Write what a lock kept, waiting for the lock once more as a first write does; a
        StoreError when it is still held, saying what is lost."""
        if not self.unwritten:
            return
        if self._locked_since is not None:
            self._wait(self._wait_ms)
        try:
            self._catch_up()
        finally:
            if self._locked_since is not None:
                self._wait(0)
        if self.unwritten:
            readings = sum(c.fn.__name__ == self.DROPPABLE[0] for c in self.unwritten)
            raise StoreError(f"cannot write to the session database: still locked by another process; "
                             f"the last {readings} readings, kept in memory, are lost")
