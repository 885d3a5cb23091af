"""Model hot-swap: notice that `models/current` (or the model file) changed, load and warm the new
model in a background thread beside the running one, and hand it over between frames.

A model that fails to load or to warm up is refused (reported once) and the old one keeps reading.
The check is two `stat` calls and a small read every `poll_s` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from edge.detect import Detector
from edge.errors import ModelError
from edge.models import resolve_model

log = logging.getLogger(__name__)


def signature(pointer: Path) -> tuple:
    """What identifies the model `pointer` currently leads to: its file, size and mtime, or the error."""
    try:
        target = resolve_model(pointer)
        st = target.stat()
    except (ModelError, OSError) as exc:
        return ("error", str(exc))
    return (str(target), st.st_size, st.st_mtime_ns)


class ModelWatcher:
    """Call `poll()` between frames; it returns a warmed-up detector once one is ready to swap in."""

    def __init__(
        self,
        pointer: Path,
        load: Callable[[Path], Detector],
        on_event: Callable[[str, str], None] | None = None,
        poll_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pointer, self.load, self.poll_s, self.clock = Path(pointer), load, poll_s, clock
        self.on_event = on_event or (lambda kind, detail: None)
        self.seen = signature(self.pointer)
        self.refused = 0
        self._next = clock() + poll_s
        self._thread: threading.Thread | None = None
        self._result: Detector | BaseException | None = None
        self._loading: tuple | None = None

    @property
    def loading(self) -> bool:
        return self._thread is not None

    def first(self) -> Detector:
        """Load the model to start with, in this thread; a failure here is the caller's to report."""
        self.seen = signature(self.pointer)
        return self.load(resolve_model(self.pointer))

    def retarget(self, pointer: Path, poll_s: float | None = None) -> None:
        """Follow another pointer (a reloaded config); the next poll loads what it names."""
        self.pointer = Path(pointer)
        self.poll_s = poll_s or self.poll_s
        self.force()

    def force(self) -> None:
        """Reload on the next poll even when nothing changed (SIGHUP)."""
        self.seen = None
        self._next = self.clock()

    def poll(self) -> Detector | None:
        if self._thread is not None:
            return self._collect()
        now = self.clock()
        if now < self._next:
            return None
        self._next = now + self.poll_s
        sig = signature(self.pointer)
        if sig == self.seen:
            return None
        self.seen = sig
        if sig[0] == "error":
            self._refuse(sig[1])
            return None
        self._loading = sig
        self._thread = threading.Thread(target=self._load, args=(Path(sig[0]),), name="segread-model-load", daemon=True)
        self._thread.start()
        log.info("loading new model %s beside the running one", sig[0])
        return None

    def wait(self, timeout: float = 30.0) -> Detector | None:
        """Block until a load in progress finishes (tests, shutdown); its result as poll() gives it."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.poll()

    def _load(self, path: Path) -> None:
        try:
            self._result = self.load(path)  # OnnxDetector warms up in its constructor
        except BaseException as exc:  # noqa: BLE001 - any failure refuses the model
            self._result = exc

    def _collect(self) -> Detector | None:
        if self._thread.is_alive():
            return None
        self._thread.join()
        result, sig = self._result, self._loading
        self._thread, self._result, self._loading = None, None, None
        if isinstance(result, BaseException):
            first = str(result).strip().splitlines()[0] if str(result).strip() else type(result).__name__
            self._refuse(f"{Path(sig[0]).name}: {first}")
            return None
        if signature(self.pointer) != sig:  # it changed again while loading: take the newer one next
            self.seen = None
        return result

    def _refuse(self, why: str) -> None:
        self.refused += 1
        log.warning("model refused, the running one keeps reading: %s", why)
        self.on_event("model_refused", why)
