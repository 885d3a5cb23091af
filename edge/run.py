"""The read loop: a source through the reader into the session log, a JSONL stream and a live line."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, TextIO

from edge.capture import Frame
from edge.errors import SegreadError, StoreError
from edge.pipeline import Reader
from edge.result import FrameResult
from edge.store import SessionLog

log = logging.getLogger(__name__)


@dataclass
class LiveLine:
    """One status line on stderr: rewritten in place on a terminal, every few seconds otherwise."""

    stream: TextIO = sys.stderr
    every: float = 5.0
    _last: float = 0.0
    _shown: str = ""  # the last line written where it is not a terminal: the final one is not repeated

    def show(self, text: str, force: bool = False) -> None:
        tty = self.stream.isatty()
        now = time.monotonic()
        if tty:
            self.stream.write("\r" + text[:160].ljust(80))
            self.stream.flush()
        elif (force and text != self._shown) or now - self._last >= self.every:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last, self._shown = now, text

    def done(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")


def status_text(reader: Reader, result: FrameResult, extra: str = "") -> str:
    s = reader.stats
    r = result.reading
    if result.status == "accepted":
        shown = reader.fmt.show(r.text)
    elif r is not None and r.text:
        shown = f"({reader.fmt.show(r.text)}?)"
    else:
        shown = "--"
    conf = f"{r.confidence:.2f}" if r else "-"
    focus = "  out of focus: holding" if reader.focus.blurred else ""  # why nothing is accepted, while it lasts
    return (
        f"{shown:>9} conf {conf}  frame {result.frame}  {s.fps:5.1f} fps  "
        f"read {s.read} accepted {s.accepted} held {s.held} skipped {s.skipped}{focus}{extra}"
    )


def spacing_hint(reader: Reader, interval: float) -> str | None:
    """For a folder stamped `interval` apart: where the time display advanced twice as fast as the
    stamps or more, how far apart its frames look, and the `--interval` that stamps them so (the
    session log's times are the stamps, and the first two frames need not wait for a pace);
    else None. Under twice, the reader follows the pace as well either way (run3, 1.5 s apart:
    197 of 200 right stamped 1 s apart, 196 stamped 1.5 or 1.6 s apart)."""
    seq = reader.sequence
    if reader.fmt.kind != "time" or not seq.pace_known or seq.pace() < 2.0:
        return None
    apart = interval * seq.pace()
    return (f"the display advanced about {apart:.1f} s between frames stamped {interval:g} s apart; "
            f"--interval {apart:.1f} stamps them as the display shows")


def end_reason(exc: BaseException) -> str:
    """The reason a session closes with when `exc` escaped the read loop: a camera that stopped
    delivering frames, or a bug, is no source that ended; the session says what ended it, on one
    line (an interrupt is the user stopping it)."""
    if isinstance(exc, KeyboardInterrupt):
        return "stopped"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = text if isinstance(exc, SegreadError) else f"{type(exc).__name__}: {text}".rstrip(": ")
    return f"error: {what}"[:200]


def open_heard(open_source: Callable[[], object]):
    """`open_source()` run in a thread while this one waits, so Ctrl-C is heard meanwhile: an RTSP
    camera that takes the connection and never answers holds OpenCV's open for
    `capture.STREAM_TIMEOUT_S`, and a signal reaches Python only once the call it interrupts
    returns. What it raises is raised here."""
    done: dict = {}

    def target() -> None:
        try:
            done["source"] = open_source()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as it was
            done["error"] = exc

    thread = threading.Thread(target=target, name="segread-open", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
    if "error" in done:
        raise done["error"]
    return done["source"]


def ride_outages(source, reopen: Callable[[], object], stop: threading.Event, give_up_s: float):
    """An opened camera or stream (`source`) that rides out an outage, for `segread read`: a Wi-Fi
    blip or a replugged webcam is reopened with backoff (`reopen()`), the frames stamped on one clock
    through it, and only an outage of `give_up_s` seconds ends the read (SourceError). Frames are
    taken by a capture thread, so a stop is heard while a stream hangs, and dropped when the reader
    falls behind the camera (counted in `dropped`)."""
    from edge.service.camera import ResilientSource

    first = [source]
    return ResilientSource(lambda: first.pop() if first else reopen(), stop, live=True, give_up_s=give_up_s,
                           name=f"camera {source.name}")


@contextmanager
def stop_on_signals(stop: threading.Event):
    """SIGINT/SIGTERM set `stop` so the loop ends between frames and closes the session."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, _frame):
        log.info("received %s, stopping after this frame", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(
    source,
    reader: Reader,
    session_log: SessionLog | None = None,
    jsonl: TextIO | None = None,
    live: LiveLine | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[Frame, FrameResult], None] | None = None,
) -> Reader:
    """Read every frame of `source` until it ends or `stop` is set; returns the reader (its stats).

    Each read frame is logged before the next is read. A frame whose verdict waits on the frames
    read after it (`Reader.awaiting`: a reading the session cannot check yet) is logged held, then
    logged again with its final verdict (`FrameResult.settles`, a few frames on at most); its
    JSONL record and its `on_result` call wait for that verdict, and the JSONL records after it
    wait with it, so the stream keeps input order and tells each frame's verdict once.

    The session closes as "stopped" when `stop` ended it, "source ended" when the source did, and
    "error: ..." when an exception escaped the loop (`end_reason`), which then propagates. What a
    lock on the database kept in memory is written before it returns (`SessionLog.flush`).
    """
    stop = stop or threading.Event()
    result = None
    failed: str | None = None  # the session's end reason when an exception escaped the loop
    waiting = False  # a frame's verdict waits on the frames read after it (the first of `lines`)
    lines: list[FrameResult] = []  # JSONL records waiting with it, in input order
    calls: list[tuple[Frame, FrameResult]] = []  # the read frames among them, for `on_result`

    def settle(final: FrameResult) -> None:
        nonlocal waiting
        if session_log is not None:
            session_log.revise(final)
        lines[0], calls[0] = final, (calls[0][0], final)
        waiting = False

    def emit() -> None:
        if jsonl is not None and lines:
            for line in lines:
                jsonl.write(json.dumps(line.to_json()) + "\n")
            jsonl.flush()
        lines.clear()
        for frame_, result_ in calls:
            if on_result is not None:
                on_result(frame_, result_)
        calls.clear()

    try:
        for frame in source:
            result = reader.process(frame)
            if result.settles is not None and waiting:
                settle(result.settles)
                emit()
            if session_log is not None:
                session_log.record(result)
                session_log.tick(frame.t)
            waiting = waiting or result is reader.awaiting
            lines.append(result)
            if result.status != "skipped":
                calls.append((frame, result))
            elif on_result is not None:
                on_result(frame, result)  # nothing to wait for: dedup skipped it
            if not waiting:
                emit()
            if live is not None:
                live.show(status_text(reader, result))
            if stop.is_set():
                break
    except BaseException as exc:
        failed = end_reason(exc)
        raise
    finally:
        try:
            final = reader.settle()  # the source ended while a frame's verdict waited
            if final is not None and waiting:
                settle(final)
            emit()
        except StoreError as exc:  # its row stays as logged (held); never hide the loop's own error
            log.error("%s", exc)
        finally:
            if session_log is not None:
                session_log.close(failed or ("stopped" if stop.is_set() else "source ended"))
            if live is not None and result is not None:
                live.show(status_text(reader, result), force=True)
                live.done()
            close = getattr(source, "close", None)
            if close:
                close()
            if session_log is not None:
                try:
                    session_log.flush()  # what a lock on the database kept in memory, waiting for it once more
                except StoreError as exc:
                    if failed is None:
                        raise
                    log.error("%s", exc)  # never hide the loop's own error
    return reader
