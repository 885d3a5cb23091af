"""Which process writes an open session, and whether it still runs.

A session row carries its writer (`this_writer`): the host, the boot, the pid namespace, the pid
and when that process started. Another process knows the writer is gone (`writer_gone`) when it
runs on the same host and the machine rebooted since, or no process has that pid now, or the one
that has started at another time (the pid was reused). Whatever it cannot tell (another host,
another container's pids, a row an older segread wrote) counts as running: a session wrongly left
open is listed as open; one wrongly closed under a running reader is exported half done.
"""

from __future__ import annotations

import json
import os
import socket
from functools import lru_cache
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:  # not Linux, or no /proc
        return None


def started(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux); None where unknown."""
    stat = _read(f"/proc/{pid}/stat")
    # Field 22; the command name before it (field 2) may hold spaces and parentheses.
    return stat.rsplit(")", 1)[1].split()[19] if stat else None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (the service user): it exists
        return True
    return True


@lru_cache(maxsize=4)  # keyed by pid: a forked child is another writer
def _writer(pid: int) -> dict:
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = None
    return {"host": socket.gethostname(), "boot": _read("/proc/sys/kernel/random/boot_id"), "pidns": pidns,
            "pid": pid, "start": started(pid)}


def this_writer(role: str) -> str:
    """This process, as a session row records its writer (JSON); `role` says which command it is
    ("serve" or "read")."""
    return json.dumps({**_writer(os.getpid()), "role": role})


def writer_role(writer: str | None) -> str | None:
    """The command a session row names as its writer ("serve", "read"), or None where unknown."""
    try:
        return json.loads(writer).get("role")
    except (TypeError, ValueError, AttributeError):
        return None


def writer_gone(writer: str | None) -> bool:
    """Whether the process a session row names as its writer is known to have ended."""
    try:
        w = json.loads(writer)
        pid = int(w["pid"])
    except (TypeError, ValueError, KeyError):
        return False
    me = _writer(os.getpid())
    if w.get("host") != me["host"]:
        return False
    if w.get("boot") and me["boot"] and w["boot"] != me["boot"]:
        return True  # rebooted since: every process of then is gone, whatever pid it had
    if w.get("pidns") != me["pidns"]:
        return False  # its pid names another process here
    if not pid_alive(pid):
        return True
    now = started(pid)
    return bool(w.get("start") and now and now != w["start"])


def describe_writer(writer: str | None) -> str:
    """A session row's writer as a person would name it: `segread serve, pid 812 on rower-pi`."""
    try:
        w = json.loads(writer)
        role, pid, host = w.get("role"), w.get("pid"), w.get("host")
    except (TypeError, ValueError, AttributeError):
        return "an unknown process"
    where = f" on {host}" if host and host != _writer(os.getpid())["host"] else ""
    return f"{f'segread {role}' if role else 'a segread'}, pid {pid}{where}"
