"""A frame source that survives faults: a camera that disappears, stalls or sends garbage.

A capture thread opens the real source and iterates it into a small queue (frigate
`video/ffmpeg.py`): for a live camera the put never blocks and a full queue drops the frame
(counted); for a file or a folder it waits, so a replay loses nothing. The reader side waits with
`queue.get(timeout=...)`, so a stop and the watchdog are heard even while a network camera holds
the open; a source that does not open within `open_s` seconds, no usable frame for `stall_s`
seconds, an exception, or a live source that ends is an outage: it
is reported once through `on_event("outage", why)`, the source is reopened with exponential
backoff, and the first good frame after it reports `on_event("recovered", ...)`.

Frames are re-stamped on one clock that runs through outages (a live source: seconds since the
service started), so a short outage is a gap in time, not a new session.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from typing import Callable, Iterable, Iterator

import numpy as np

from edge.capture import Frame
from edge.errors import SourceError

log = logging.getLogger(__name__)

_END = object()


def usable(image) -> bool:
    """A real image: a non-empty 2-D or 3-D numpy array."""
    return isinstance(image, np.ndarray) and image.size > 0 and image.ndim in (2, 3) and min(image.shape[:2]) > 0


def _resume(source, index: int) -> None:
    """A folder reopened after a fault goes on after the last frame it gave."""
    if hasattr(source, "resume_after"):
        source.resume_after(index)


def _told(exc: BaseException, what: str) -> str:
    """A source's fault in one line: a SourceError's own (it names its source: "cannot open
    http://cam/: HTTP 404"), anything else after `what` ("source X failed: stale file handle")."""
    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if isinstance(exc, SourceError) else f"{what}: {text}"


class _OpenFailed:
    """What a feed puts on its queue when its source would not open."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Feed:
    """One source, opened and iterated by a daemon thread into a bounded queue.

    The open is in the thread too: a network camera that accepts the connection and never answers
    holds OpenCV's open for its timeout (`capture.STREAM_TIMEOUT_S`), and the reader side must go
    on feeding the watchdog and hearing a stop meanwhile. `opened` is set once the source is open."""

    def __init__(self, opener: Callable[[], Iterable[Frame]], size: int, live: bool,
                 prepare: Callable[[Iterable[Frame]], None] | None = None) -> None:
        self.opener, self.prepare, self.live = opener, prepare, live
        self.q: queue.Queue = queue.Queue(maxsize=size)
        self.halt = threading.Event()
        self.opened = threading.Event()
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name="segread-capture", daemon=True)

    def _run(self) -> None:
        try:
            source = self.opener()
        except Exception as exc:  # noqa: BLE001 - SourceError, or whatever OpenCV raises
            self._put(_OpenFailed(exc))
            return
        self.opened.set()
        try:
            if self.halt.is_set():  # given up on while it opened
                return
            if self.prepare is not None:
                self.prepare(source)
            for frame in source:
                if self.halt.is_set():
                    return
                if self.live:
                    try:
                        self.q.put_nowait(frame)
                    except queue.Full:
                        self.dropped += 1
                else:
                    self._put(frame)
            self._put(_END)
        except Exception as exc:  # noqa: BLE001 - any failure of a source is an outage
            self._put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # noqa: BLE001
                    log.debug("closing source failed: %s", exc)

    def _put(self, item) -> None:
        while not self.halt.is_set():
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def stop(self, warn: bool = True) -> None:
        self.halt.set()
        while True:  # wake a blocked put
            try:
                self.q.get_nowait()
            except queue.Empty:
                break
        self.thread.join(timeout=1.0)
        if self.thread.is_alive() and warn:  # at a stop the process is going, and the thread with it
            doing = "reading" if self.opened.is_set() else "opening"
            log.info("capture thread still blocked %s the old source; leaving it behind", doing)


class ResilientSource:
    """Iterate frames from `open_source()` until `stop` is set, reopening it after every outage.

    A file or folder (not live) reopened after a stall goes on after the last frame it gave (a
    folder skips to it, `resume_after`; any other file drops the frames up to it), so no frame is
    read and logged twice.

    `on_wait()` is called about every `tick` seconds while no frame comes (waiting, backing off),
    so the caller can keep its watchdog and heartbeat going through an outage.

    With `give_up_s`, an outage that lasts that long ends the iteration with a SourceError saying
    why (a `segread read` of a camera unplugged for good); without it, reopening goes on (the service).
    """

    def __init__(
        self,
        open_source: Callable[[], Iterable[Frame]],
        stop: threading.Event,
        live: bool,
        stall_s: float = 5.0,
        open_s: float = 30.0,
        give_up_s: float | None = None,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        buffer: int = 4,
        on_event: Callable[[str, str], None] | None = None,
        on_wait: Callable[[], None] | None = None,
        tick: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "source",
    ) -> None:
        self.open_source, self.stop, self.live = open_source, stop, live
        self.stall_s, self.open_s, self.buffer, self.give_up_s = stall_s, open_s, buffer, give_up_s
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.on_event = on_event or (lambda kind, detail: None)
        self.on_wait = on_wait or (lambda: None)
        self.tick, self.clock, self.name = tick, clock, name
        self.outages = 0
        self.garbage = 0
        self.frames = 0
        self._dropped_before = 0
        self._feed: _Feed | None = None
        self._delay = backoff_min
        self._outage_since: float | None = None
        self._why = ""  # the last fault
        self._attempts = 0
        self._restart = False
        self._t0: float | None = None
        self._t_offset = 0.0  # added to a file's own frame times: a file switched to goes on after the last
        self._last_t = 0.0
        self._given: int | None = None  # a file's index of the last frame given, where a reopen goes on from

    @property
    def dropped(self) -> int:
        return self._dropped_before + (self._feed.dropped if self._feed else 0)

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def reopen_with(self, open_source: Callable[[], Iterable[Frame]], live: bool | None = None) -> None:
        """Switch to another source between frames (a reloaded config), without calling it an outage."""
        self.open_source = open_source
        if live is not None:
            self.live = live
        self._restart = True
        self._given, self._t_offset = None, self._last_t  # another source: from its start, after the last frame

    def __iter__(self) -> Iterator[Frame]:
        self._t0 = self.clock()
        while not self.stop.is_set():
            self._restart = False
            given = None if self.live else self._given
            prepare = None if given is None else functools.partial(_resume, index=given)
            feed = self._feed = _Feed(self.open_source, self.buffer, self.live, prepare)
            feed.thread.start()
            try:
                ended = yield from self._drain(feed)
            finally:
                feed.stop(warn=not self.stop.is_set())
                self._dropped_before += feed.dropped
                self._feed = None
            if ended:
                return
            if not self._restart:
                self._give_up_if_long()
                self._backoff()

    def _drain(self, feed: _Feed):
        """Yield good frames; True when a file or folder came to its end, False to reopen."""
        last_good = self.clock()
        opened = False
        while not self.stop.is_set() and not self._restart:
            if not opened and feed.opened.is_set():
                opened, last_good = True, self.clock()  # the stall clock starts once it is open
            left = last_good + (self.stall_s if opened else self.open_s) - self.clock()
            if left <= 0:
                if not opened:
                    self._fault(f"{self.name} did not open within {self.open_s:g} s")
                    return False
                extra = f" ({self.garbage} unusable so far)" if self.garbage else ""
                self._fault(f"no usable frame from {self.name} for {self.stall_s:g} s{extra}")
                return False
            try:
                item = feed.q.get(timeout=min(self.tick, left))
            except queue.Empty:
                self.on_wait()
                continue
            if isinstance(item, _OpenFailed):
                self._fault(_told(item.exc, f"cannot open {self.name}"))
                return False
            if item is _END:
                if self.live:
                    self._fault(f"{self.name} stopped delivering frames")
                    return False
                return True
            if isinstance(item, BaseException):
                self._fault(_told(item, f"{self.name} failed"))
                return False
            if not usable(getattr(item, "image", None)):
                self.garbage += 1
                continue
            if not self.live and self._given is not None and item.index <= self._given:
                last_good = self.clock()  # a file reopened after a stall: its frames read already
                continue
            self._recovered()
            if not self.live:
                self._given = item.index
            yield self._stamp(item)
            last_good = self.clock()  # the reader's own time does not count as a stall
        return False

    def _stamp(self, frame: Frame) -> Frame:
        """`frame` on this source's one clock and count; a live one's frames named by their number
        are renamed by that count, as a reopened camera numbers its own from 0 again."""
        t = self.clock() - self._t0 if self.live else self._t_offset + frame.t
        self._last_t = t
        index = self.frames
        self.frames += 1
        return Frame(frame.image, str(index) if self.live and frame.name.isdigit() else frame.name, index, t)

    def _fault(self, why: str) -> None:
        self._attempts += 1
        self._why = why
        if self._outage_since is None:
            self._outage_since = self.clock()
            self.outages += 1
            log.warning("outage: %s; reopening with backoff", why)
            self.on_event("outage", why)
        else:
            log.info("still out (attempt %d): %s", self._attempts, why)

    def _recovered(self) -> None:
        if self._outage_since is None:
            return
        took = self.clock() - self._outage_since
        self.on_event("recovered", f"{self.name} back after {took:.1f} s, {self._attempts} failed attempt(s)")
        log.warning("%s recovered after %.1f s", self.name, took)
        self._outage_since, self._attempts, self._delay = None, 0, self.backoff_min

    def _give_up_if_long(self) -> None:
        if self.give_up_s is None or self._outage_since is None:
            return
        out = self.clock() - self._outage_since
        if out >= self.give_up_s:
            raise SourceError(f"{self.name} out for {out:.0f} s, giving up; the last try: {self._why}")

    def _backoff(self) -> None:
        until = self.clock() + self._delay
        if self.give_up_s is not None and self._outage_since is not None:
            until = min(until, self._outage_since + self.give_up_s)  # one last try when the time is up
        self._delay = min(self._delay * 2, self.backoff_max)
        while not self.stop.is_set():
            left = until - self.clock()
            if left <= 0:
                return
            self.stop.wait(min(self.tick, left))
            self.on_wait()
