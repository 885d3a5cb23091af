"""The systemd notify protocol (sd_notify) over an AF_UNIX datagram socket, with no dependency.

Does nothing when NOTIFY_SOCKET is unset (run by hand, or not Type=notify). An abstract socket
name starts with '@' in the environment and with a NUL byte on the wire.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    """Send READY=1, WATCHDOG=1, STATUS=..., STOPPING=1 to the service manager.

    `watchdog()` may be called on every frame: it sends at most one ping per half of the interval
    systemd asked for (WATCHDOG_USEC), and nothing when no watchdog is set.
    """

    def __init__(self, environ: dict | None = None, clock=time.monotonic) -> None:
        env = os.environ if environ is None else environ
        self.clock = clock
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_s = _watchdog_interval(env)
        self._sock: socket.socket | None = None
        self._last_ping = float("-inf")
        if self.address is not None:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never block the frame loop: a manager that stopped reading loses a ping, not the reader.
                self._sock.setblocking(False)
            except OSError as exc:
                log.warning("cannot create the notify socket: %s", exc)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *lines: str) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as exc:  # the manager went away: never let it stop the reader
            log.debug("sd_notify failed: %s", exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", f"MAINPID={os.getpid()}", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text[:200]}")

    def extend_start(self, seconds: float, status: str) -> bool:
        """Ask for `seconds` more to start (systemd 236 and later; TimeoutStartSec otherwise), saying why."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}", f"STATUS={status[:200]}")

    def reloading(self) -> bool:
        return self.send("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self, force: bool = False) -> bool:
        if self._sock is None or (self.watchdog_s is None and not force):
            return False
        now = self.clock()
        if not force and now - self._last_ping < self.watchdog_s / 2:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    log.warning("ignoring NOTIFY_SOCKET=%r: not a path or an abstract name", value)
    return None


def _watchdog_interval(env) -> float | None:
    """Seconds from WATCHDOG_USEC, when it is meant for this process (WATCHDOG_PID)."""
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None
