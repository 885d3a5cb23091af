"""The service: the edge read loop (`edge.run.run`) with a resilient source, model hot-swap,
systemd readiness and watchdog, a heartbeat, storage limits and session exports.

Everything that changes the running state happens between frames, in the loop's thread:
the model swap, a config reload asked for by SIGHUP, limit checks, exports.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from edge.capture import Frame, open_source, shown_source
from edge.dedup import DedupGate
from edge.deferred import locked
from edge.detect import OnnxDetector
from edge.errors import DatabaseLocked, SegreadError, StoreError
from edge.export_tcx import export_session
from edge.files import can_write
from edge.pipeline import Reader
from edge.reading import DisplayFormat
from edge.result import FrameResult
from edge.run import LiveLine, end_reason, run, status_text
from edge.sequence import SequenceCheck
from edge.service import limits
from edge.service.camera import ResilientSource
from edge.service.config import ServiceConfig, SourceConfig, load_config
from edge.service.hotswap import ModelWatcher
from edge.service.status import Heartbeat
from edge.service.systemd import Notifier
from edge.store import SessionLog, close_abandoned, open_db

log = logging.getLogger(__name__)

SourceFactory = Callable[[SourceConfig], Iterable[Frame]]


def default_source(cfg: SourceConfig) -> Iterable[Frame]:
    return open_source(cfg.spec, fps=cfg.fps, interval=cfg.interval, size=cfg.frame_size())


def lock_database(database: Path):
    """Hold `<database>.lock` for as long as the service runs (the returned file, closed to let go):
    a second service on the database would write the first's status row (one per database).
    StoreError naming the holder's pid when it is held."""
    path = Path(f"{database}.lock")
    try:
        fh = open(path, "a+")
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise StoreError(f"database {database} is in use by another segread serve (pid {holder}); "
                         "one service per database") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


class Service:
    """Build with a validated config; `run(stop, reload)` reads until `stop` is set or a file source ends."""

    def __init__(
        self,
        config: ServiceConfig,
        config_path: Path | None = None,
        source_factory: SourceFactory = default_source,
        notifier: Notifier | None = None,
        live: LiveLine | None = None,
    ) -> None:
        self.cfg, self.config_path, self.source_factory = config, config_path, source_factory
        self.notifier = notifier or Notifier()
        self.live = live
        self.exported: list[Path] = []
        self._next_limits = 0.0
        self._queue_off: str | None = None
        self._unexported: set[int] = set()  # sessions whose export failed, tried again at each limits check
        self._over_limit = False  # the last pruning left the database over max_db_mb (and said so)
        self._queue_size = 0
        self._out_of_focus = False  # the reader holds every reading for the camera's focus (edge.focus)
        self.review = None

    # -- building ------------------------------------------------------------------------------
    def _load_model(self, path: Path) -> OnnxDetector:
        return OnnxDetector(path, device=self.cfg.model.device)

    def _dedup(self) -> DedupGate:
        d = self.cfg.dedup
        return DedupGate(min_interval=d.min_interval, max_interval=d.max_interval, min_change=d.min_change, enabled=d.enabled)

    def _event(self, kind: str, detail: str) -> None:
        try:
            self.session_log.event(kind, detail)
        except SegreadError as exc:
            log.error("cannot log event %s (%s): %s", kind, detail, exc)

    def _open_database(self, stop: threading.Event):
        """The database, waited for while another process holds its lock (a backup at boot, a
        sqlite3 shell left in a transaction): systemd hears why the start takes long, rather than
        restarting a service that fails at once until its start limit gives up on it. None when
        `stop` ended the wait (`systemctl stop` meanwhile: a stop, no failure)."""
        wait = self.cfg.limits.lock_wait_s
        told = False
        while True:
            try:
                db = open_db(self.cfg.database, lock_wait=wait)
                if told:
                    log.warning("%s is free again: starting", self.cfg.database)
                return db
            except DatabaseLocked as exc:
                if not told:
                    log.warning("%s; waiting for it", exc)
                    told = True
                self.notifier.extend_start(2 * wait + 5, f"waiting for {self.cfg.database}: another process holds its lock")
                if stop.wait(1.0):
                    return None

    @property
    def started(self) -> bool:
        """Whether `open` got as far as reading (not when a stop ended its wait for the database)."""
        return hasattr(self, "reader")

    def open(self, stop: threading.Event) -> None:
        cfg = self.cfg
        self.db = self._open_database(stop)
        if self.db is None:
            return
        self._lock = lock_database(cfg.database)
        self.watcher = ModelWatcher(cfg.model.pointer, self._load_model, self._event, poll_s=cfg.model.poll_s)
        detector = self.watcher.first()  # a model that cannot load at start is the user's to fix
        self.reader = Reader(detector, cfg.reader.format, dedup=self._dedup(), min_conf=cfg.reader.min_conf,
                             crop_size=cfg.reader.crop_size, use_crop=cfg.reader.crop,
                             level=cfg.reader.level, second_look=cfg.reader.second_look, deskew=cfg.reader.deskew,
                             denoise=cfg.reader.denoise, stretch=cfg.reader.stretch, vote_decode=cfg.reader.vote_decode,
                             confirm_first=cfg.reader.confirm_first, scan=cfg.reader.scan,
                             blur_hold=cfg.reader.blur_hold or None)
        self.session_log = SessionLog(self.db, source=shown_source(cfg.source.spec), model=detector.model_id,
                                      fmt=cfg.reader.format, gap=cfg.session.gap_s, idle=cfg.session.idle_s,
                                      max_unwritten=cfg.limits.max_unwritten, role="serve")
        self._close_interrupted()
        self.review = self._open_review()
        self.heartbeat = Heartbeat(self.db, every=cfg.status.heartbeat_s)
        self.camera = ResilientSource(
            lambda: self.source_factory(self.cfg.source), stop, live=cfg.source.is_live(),
            stall_s=cfg.camera.stall_s, open_s=cfg.camera.open_s, backoff_min=cfg.camera.backoff_min, backoff_max=cfg.camera.backoff_max,
            buffer=cfg.camera.buffer, on_event=self._event, on_wait=self._waiting, name=f"source {shown_source(cfg.source.spec)}",
        )
        self._event("start", f"model {detector.model_id} on {detector.device_name}, source {shown_source(cfg.source.spec)}")
        self.heartbeat.beat("running", self.detail(), force=True)
        self.notifier.ready(status=f"reading {shown_source(cfg.source.spec)} with {detector.model_id} on {detector.device_name}")

    def _open_review(self):
        """The review stage's queue with this config's selection settings, when it is installed."""
        if not self.cfg.queue.enabled:
            return None
        try:
            from edge.review.queue import ReviewQueue
            from edge.review.select import SelectConfig
        except ImportError as exc:
            log.warning("review queue not available (%s): no frames are queued", exc)
            return None
        return ReviewQueue.for_reader(self.db, self.reader, session=self.session_log,
                                      config=SelectConfig(**self.cfg.queue.select_kwargs()), frames_dir=self.cfg.frames_dir)

    def _close_interrupted(self) -> None:
        """Sessions left open by a process that is gone (killed, or stopped by a full disk): close
        them as interrupted and export them. A `segread read` running beside keeps its own; one
        no writer was recorded for is an older segread's, and no other service runs (the lock)."""
        for session_id in close_abandoned(self.db, service=True):
            self._export(session_id)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event, reload: threading.Event | None = None) -> int:
        self.stop, self.reload = stop, reload or threading.Event()
        if not self.started:
            self.open(stop)
            if not self.started:  # stopped while it waited for the database: nothing to close
                self.notifier.stopping("stopped while waiting for the database")
                return 0
        ended = None  # why the loop ended, when an exception escaped it (`end_reason`)
        try:
            run(self.camera, self.reader, self.session_log, stop=stop, on_result=self._after_frame)
        except BaseException as exc:
            ended = end_reason(exc)
            raise
        finally:
            self.notifier.stopping("stopping")
            self._export_ended()
            try:
                self.heartbeat.beat("stopped", self.detail(), force=True)
                self._event("stop", ended or ("stopped by signal" if stop.is_set() else "source ended"))
            except Exception as exc:  # noqa: BLE001 - never hide the loop's own error
                log.error("cannot record the stop: %s", exc)
            if self.live is not None:
                self.live.done()
            self._lock.close()  # another service may take the database now
        return 0

    def _after_frame(self, frame: Frame, result: FrameResult) -> None:
        self.notifier.watchdog()
        if self.review is not None and self._queue_off is None:
            self.review.consider(frame, result)  # commits before the next frame, like the reading
        self._export_ended()
        self._focus_changed()
        self._apply_pending()
        self.heartbeat.beat("running", self.detail)
        now = time.monotonic()
        if now >= self._next_limits:
            self._next_limits = now + self.cfg.limits.check_s
            self.check_limits()
        if self.live is not None:
            self.live.show(status_text(self.reader, result, self._extra()))

    def _focus_changed(self) -> None:
        """An event, and a warning in the journal, when the camera goes out of focus (every reading
        held from then on: nothing is logged unattended until a person focuses it) and when it is
        in focus again."""
        blurred = self.reader.focus.blurred
        if blurred == self._out_of_focus:
            return
        self._out_of_focus = blurred
        if blurred:
            log.warning("camera blurred: holding every reading until it is sharp again (%s)", self.reader.focus.reason())
            self._event("out_of_focus", self.reader.focus.reason())
        elif self.reader.focus.hold_at is None:  # a reload set blur_hold = 0: not that the camera was focused
            log.info("blur_hold is 0: reading regardless of the camera's focus")
            self._event("in_focus", "blur_hold is 0: reading regardless of the camera's focus")
        else:
            log.info("camera in focus again: reading")
            self._event("in_focus", "the camera is in focus again: reading")

    def _waiting(self) -> None:
        """Called about once a second while the camera is out: keep the watchdog and heartbeat fed,
        and take a reload or a new model (`systemctl reload` is how a wrong camera is fixed, and an
        outage is when it is needed)."""
        self.notifier.watchdog()
        self._apply_pending()
        self.heartbeat.beat("outage" if self.camera.in_outage else "waiting", self.detail)

    def _apply_pending(self) -> None:
        """Between frames, or while none comes: a config reload SIGHUP asked for, a new model."""
        if self.reload.is_set():
            self.reload.clear()
            self.reload_config()
        swapped = self.watcher.poll()
        if swapped is not None:
            self.swap(swapped)

    def swap(self, detector) -> None:
        old = self.reader.detector.model_id
        self.reader.swap_detector(detector)
        self.session_log.model = detector.model_id
        self._event("model_swap", f"{old} -> {detector.model_id} on {detector.device_name}")
        self.notifier.status(f"reading with {detector.model_id} on {detector.device_name}")

    def _export_ended(self) -> None:
        for session_id in self.session_log.take_ended():
            self._export(session_id)

    def _export(self, session_id: int) -> bool:
        """Write a finished session's exports; one that fails (a full disk) is tried again at each
        limits check until it is written."""
        if not self.cfg.session.export:
            return True
        try:
            self.exported += export_session(self.db, session_id, self.cfg.exports_dir, self.cfg.session.export)
        except (OSError, SegreadError) as exc:
            if session_id not in self._unexported:
                log.error("cannot export session %s: %s", session_id, exc)
                self._event("export_failed", f"session {session_id}: {exc}; tried again every {self.cfg.limits.check_s:g} s")
            self._unexported.add(session_id)
            return False
        if session_id in self._unexported:
            self._unexported.discard(session_id)
            self._event("exported", f"session {session_id}, at a later try")
        return True

    # -- limits, reload, status ----------------------------------------------------------------
    def check_limits(self) -> None:
        for session_id in sorted(self._unexported):
            self._export(session_id)
        lim = self.cfg.limits
        try:
            pruned = limits.enforce(self.db, self.cfg.database, lim.max_db_mb, lim.max_queued_frames)
        except sqlite3.OperationalError as exc:
            if not locked(exc):
                raise
            pruned = None  # another process holds the database: pruning waits for the next check
        if pruned is not None:
            # Over a limit nothing more can meet, each check would prune the last check's note and
            # write another: said once, until pruning deletes more than notes again.
            if not (pruned.over and pruned.only_notes and self._over_limit):
                log.warning(pruned.summary())
                self._event("pruned", pruned.summary())
            self._over_limit = pruned.over
        low = limits.free_mb(self.cfg.frames_dir) < lim.min_free_mb
        if low and self._queue_off is None:
            self._queue_off = f"less than {lim.min_free_mb:g} MB free for {self.cfg.frames_dir}: queueing stopped, reading goes on"
            log.warning(self._queue_off)
            self._event("disk_full", self._queue_off)
        elif not low and self._queue_off is not None:
            self._queue_off = None
            self._event("disk_ok", "free space is back: queueing resumed")
        if self.review is not None and self.review.stopped and not low and can_write(self.cfg.frames_dir):
            self._event("queue_resumed", f"{self.cfg.frames_dir} can be written again (stopped: {self.review.stopped})")
            self.review.stopped = None  # a write error stopped it (a folder locked for a while, say)

    @property
    def queueing(self) -> bool:
        return self.review is not None and self._queue_off is None and not self.review.stopped

    def reload_config(self) -> None:
        """SIGHUP: read the config file again and apply it between frames; a bad file changes nothing."""
        if self.config_path is None:
            self.watcher.force()
            return
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
        except SegreadError as exc:
            self._event("config_refused", str(exc))
            log.error("config reload refused, keeping the running settings: %s", exc)
            self.notifier.ready(status="config reload refused")
            return
        note = ""
        if new.database != self.cfg.database:  # the open database, its queue and its limits stay
            note = f"; database stays {self.cfg.database} until a restart"
            new = new.model_copy(update={"database": self.cfg.database})
        old, self.cfg = self.cfg, new
        if new.queue != old.queue or new.frames_dir != old.frames_dir:
            self.review = self._open_review()
        self.reader.dedup = self._dedup()
        self.reader.min_conf = new.reader.min_conf
        self.reader.use_crop, self.reader.second_look = new.reader.crop, new.reader.second_look
        self.reader.level, self.reader.stretch = new.reader.level, new.reader.stretch
        self.reader.tracker.deskew, self.reader.tracker.denoise = new.reader.deskew, new.reader.denoise
        self.reader.sequence.vote_decode = new.reader.vote_decode
        self.reader.sequence.confirm_first = new.reader.confirm_first
        self.reader.focus.hold_at = new.reader.blur_hold or None
        scan_span = SequenceCheck.scan_span if new.reader.scan else None
        self.reader.sequence.scan_span = scan_span
        if new.reader.format != old.reader.format:
            fmt = DisplayFormat.parse(new.reader.format)
            self.session_log.close("format changed")
            sequence = SequenceCheck(fmt, vote_decode=new.reader.vote_decode, confirm_first=new.reader.confirm_first,
                                     scan_span=scan_span)
            self.reader.fmt, self.reader.sequence, self.session_log.fmt = fmt, sequence, new.reader.format
        self.session_log.gap, self.session_log.idle = new.session.gap_s, new.session.idle_s
        self.session_log.max_unwritten = new.limits.max_unwritten
        cam = self.camera
        cam.stall_s, cam.open_s = new.camera.stall_s, new.camera.open_s
        cam.backoff_min, cam.backoff_max = new.camera.backoff_min, new.camera.backoff_max
        if new.source != old.source:
            cam.reopen_with(lambda: self.source_factory(self.cfg.source), live=new.source.is_live())
            self.reader.focus.clear()  # another camera: its own focus
            cam.name = f"source {shown_source(new.source.spec)}"
            self.session_log.source = shown_source(new.source.spec)  # the sessions from now on
        self.heartbeat.every = new.status.heartbeat_s
        self.watcher.retarget(new.model.pointer, new.model.poll_s)  # SIGHUP reloads the model too
        self._next_limits = 0.0
        self._event("config_reloaded", f"{self.config_path}{note}")
        self.notifier.ready(status="config reloaded")

    def detail(self) -> dict:
        reader = getattr(self, "reader", None)
        s = reader.stats if reader else None
        anchor = reader.sequence.anchor if reader else None
        if hasattr(self, "db"):
            self._queue_size = limits.queued_frames(self.db)
        return {
            "model": reader.detector.model_id if reader else None,
            "source": shown_source(self.cfg.source.spec),
            "frames": s.frames if s else 0, "read": s.read if s else 0, "accepted": s.accepted if s else 0,
            "held": s.held if s else 0, "skipped": s.skipped if s else 0, "fps": round(s.fps, 2) if s else 0.0,
            "dropped": self.camera.dropped if hasattr(self, "camera") else 0,
            "outages": self.camera.outages if hasattr(self, "camera") else 0,
            "queue": self._queue_size, "queueing": self.queueing, "last_value": anchor[0] if anchor else None,
            "out_of_focus": reader.focus.reason() if reader and reader.focus.blurred else None,
            "session_id": self.session_log.session_id if hasattr(self, "session_log") else None,
            "heartbeat_s": self.cfg.status.heartbeat_s,  # how stale a beat may grow before `status` doubts it
        }

    def _extra(self) -> str:
        s = self.session_log
        session = f"session {s.session_id}" if s.session_id is not None else "no session"
        queue = self._queue_size if self.queueing else f"{self._queue_size} (off)"
        return (f"  {session}  dropped {self.camera.dropped}  outages {self.camera.outages}  "
                f"queue {queue}  model {self.reader.detector.model_id}")
