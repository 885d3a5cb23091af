"""Durable, atomic file writes: a reader of the file sees the old content or the new, never part of
either, and a full disk or a signal mid-write leaves the old file and no temporary one."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

from edge.errors import OutputError


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` on a hidden temporary file beside `path` (named for this process, so two
    writers never share one), fsync it, rename it over `path`, then fsync the folder."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part.{os.getpid()}")
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entries to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def probe_write(folder: Path) -> None:
    """Make `folder` if needed, then make and remove an empty file in it: OSError when it cannot be
    written now (read-only, locked), found before the work whose result would go there."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".segread-write-check-"):
        pass


def can_write(folder: Path) -> bool:
    """Whether `probe_write(folder)` succeeds."""
    try:
        probe_write(folder)
    except OSError:
        return False
    return True


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically and durably."""
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


class LineOutput:
    """A stream of lines for `--jsonl PATH`, or stdout for `-`: a file it cannot make or write (a
    folder, a missing folder, a full disk) is an OutputError naming it, not a traceback. It is
    opened at once, so such a path is told before a model loads, and emptied only when the run
    writes to it or closes it: a run that fails before (a camera that does not open) leaves an
    earlier run's lines as they were."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._emptied = path == "-"
        try:
            self._fh = sys.stdout if path == "-" else open(path, "a")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None

    def write(self, text: str) -> None:
        self._empty()
        self._guard(self._fh.write, text)

    def flush(self) -> None:
        self._guard(self._fh.flush)

    def close(self) -> None:
        if self._fh is not sys.stdout:
            self._empty()
            self._guard(self._fh.close)

    def _empty(self) -> None:
        if not self._emptied:
            self._emptied = True
            self._guard(self._fh.truncate, 0)  # appends go to its start from now on

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def open_lines(path: str | None) -> LineOutput | None:
    """`LineOutput(path)`, or None without a path."""
    return LineOutput(path) if path else None
