"""`segread serve` as a real process: readiness and watchdog on a real AF_UNIX socket, SIGTERM,
SIGHUP and SIGKILL at chosen moments, and what the database holds afterwards."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from edge.models import set_current
from edge.store import open_db
from tests.edge.service.conftest import write_config, write_workout

ROOT = Path(__file__).resolve().parents[3]


class NotifySocket:
    """The manager's end of sd_notify: a bound datagram socket whose messages a thread collects as
    they come, as systemd reads them (the kernel queues only a few unread: net.unix.max_dgram_qlen,
    10 here, and a service's later messages are then dropped, its STOPPING=1 among them)."""

    def __init__(self, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir: str | None = None
        if abstract:
            name = f"segread-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.dir = tempfile.mkdtemp(prefix="sd", dir="/tmp")  # AF_UNIX paths are short
            self.sock.bind(f"{self.dir}/notify")
            self.env = f"{self.dir}/notify"
        self.messages: list[str] = []
        self.sock.settimeout(0.05)
        self._closed, self._empty = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                self._empty.set()  # nothing was waiting
            except OSError:
                return

    def wait_for(self, line: str, timeout: float = 20.0) -> int:
        """Index of the first message containing `line`, waiting until it comes."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(list(self.messages)):
                if line in m.split("\n"):
                    return i
            if time.monotonic() > deadline:
                raise AssertionError(f"no {line} within {timeout} s; got {self.messages}")
            time.sleep(0.01)

    def drain(self) -> None:
        """Return once every message sent before the call is in `messages`."""
        self._empty.clear()
        assert self._empty.wait(5.0), "the notify socket was never empty"

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def serve(config: Path, notify: NotifySocket, log: Path, watchdog_usec: int = 300_000) -> subprocess.Popen:
    env = dict(os.environ, NOTIFY_SOCKET=notify.env, WATCHDOG_USEC=str(watchdog_usec), PYTHONPATH=str(ROOT))
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "serve", "--config", str(config), "--quiet"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
    )


def accepted_count(db: Path) -> int:
    """What a concurrent reader sees right now (WAL: no lock on the writer)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM readings WHERE status = 'accepted'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_readings(db: Path, n: int, proc: subprocess.Popen, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"service exited early with {proc.returncode}"
        if db.exists() and (count := accepted_count(db)) >= n:
            return count
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} readings after {timeout} s")


def wait_until(check, proc: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    """Return once `check()` is true; fail when the service exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"service exited with {proc.returncode}: {log.read_text()}"
        assert time.monotonic() < deadline, f"not within {timeout} s: {log.read_text()}"
        time.sleep(0.05)


@pytest.fixture
def workout(tmp_path) -> tuple[Path, list[str]]:
    folder = tmp_path / "frames-in"
    return folder, write_workout(folder, seconds=30, per_second=20)  # 600 frames, paced at 20 fps


def test_ready_after_warmup_watchdog_pings_and_sigterm_closes_the_session(tmp_path, models_dir, workout):
    folder, texts = workout
    cfg = write_config(tmp_path / "segread.json", models_dir, folder, source={"fps": 20})
    db = tmp_path / "state" / "segread.db"
    notify = NotifySocket(abstract=True)
    proc = serve(cfg, notify, tmp_path / "serve.log")
    try:
        notify.wait_for("READY=1")
        # READY comes after the model was loaded and warmed up: the start event names it.
        events = list(open_db(db).query("SELECT kind, detail FROM events"))
        assert events[0]["kind"] == "start" and "strip-a" in events[0]["detail"]
        ready = notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        assert notify.wait_for("WATCHDOG=1") > ready
        wait_readings(db, 20, proc)
        status = subprocess.run(
            [sys.executable, "-m", "edge.cli", "status", "--db", str(db)], cwd=ROOT, capture_output=True, text=True,
        )
        assert status.returncode == 0, status.stderr
        assert "service: running" in status.stdout and "model strip-a" in status.stdout
        assert f"\nsource: {folder}\n" in status.stdout
        assert "session 1: open" in status.stdout
        assert re.search(r"^last reading: \d\d:\d\d at ", status.stdout, re.M)  # as the display shows it, like the session
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, (tmp_path / "serve.log").read_text()
        notify.drain()
        assert any("STOPPING=1" in m for m in notify.messages)
    finally:
        proc.kill()
        notify.close()
    store = open_db(db)
    (session,) = list(store.query("SELECT * FROM sessions"))
    assert session["status"] == "closed" and session["end_reason"] == "stopped"
    rows = list(store.query("SELECT frame, text FROM readings ORDER BY id"))
    assert [r["text"] for r in rows] == texts[: len(rows)]  # every frame read, in order, none lost
    assert session["readings"] == len(rows)
    exports = sorted(p.suffix for p in (tmp_path / "state" / "exports").iterdir())
    assert exports == [".csv", ".tcx"]
    assert list(store.query("SELECT kind FROM events ORDER BY id"))[-1]["kind"] == "stop"


def test_sighup_reloads_config_and_model_and_a_bad_config_is_refused(tmp_path, models_dir, workout):
    folder, _ = workout
    cfg = write_config(tmp_path / "segread.json", models_dir, folder, source={"fps": 20})
    db = tmp_path / "state" / "segread.db"
    notify = NotifySocket()
    proc = serve(cfg, notify, tmp_path / "serve.log")
    try:
        notify.wait_for("READY=1")
        wait_readings(db, 10, proc)
        set_current(models_dir, "strip-b")
        write_config(cfg, models_dir, folder, source={"fps": 20}, reader={"min_conf": 0.4})
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        wait_until(lambda: "model_swap" in kinds(db), proc, tmp_path / "serve.log", timeout=15)
        assert "config_reloaded" in kinds(db)
        seen = accepted_count(db)
        wait_readings(db, seen + 5, proc)  # still reading, with the new model
        cfg.write_text(json.dumps({"source": {"spec": str(folder)}, "camera": {"stall_s": -1}}))
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "config_refused" in kinds(db), proc, tmp_path / "serve.log", timeout=10)
        refused = list(open_db(db).query("SELECT detail FROM events WHERE kind = 'config_refused'"))
        assert refused and "camera.stall_s" in refused[0]["detail"]
        seen = accepted_count(db)
        wait_readings(db, seen + 5, proc)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        notify.close()
    models = [r["model"] for r in open_db(db).query("SELECT model FROM readings ORDER BY id")]
    switch = models.index("strip-b")
    assert set(models[:switch]) == {"strip-a"} and set(models[switch:]) == {"strip-b"}


def kinds(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
    finally:
        conn.close()


def test_sigkill_leaves_every_accepted_reading_and_a_restart_closes_the_session(tmp_path, models_dir, workout):
    folder, texts = workout
    cfg = write_config(tmp_path / "segread.json", models_dir, folder, source={"fps": 20})
    db = tmp_path / "state" / "segread.db"
    notify = NotifySocket()
    proc = serve(cfg, notify, tmp_path / "serve.log")
    try:
        notify.wait_for("READY=1")
        seen = wait_readings(db, 60, proc)  # mid-session, while it writes
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        proc.kill()
    store = open_db(db)  # opens, migrations and a write check included
    assert store.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = list(store.query("SELECT text FROM readings WHERE status = 'accepted' ORDER BY id"))
    assert len(rows) >= seen
    assert [r["text"] for r in rows] == texts[: len(rows)]
    (session,) = list(store.query("SELECT * FROM sessions"))
    assert session["status"] == "open" and session["readings"] == len(rows)
    store.conn.close()

    # The next start closes the interrupted session and exports it, then reads on.
    proc = serve(cfg, notify, tmp_path / "serve2.log")
    try:
        notify.messages.clear()
        notify.wait_for("READY=1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        notify.close()
    first = open_db(db)["sessions"].get(1)
    assert first["status"] == "closed" and first["end_reason"] == "interrupted"
    assert any(p.name.startswith("session-00001") for p in (tmp_path / "state" / "exports").iterdir())


def test_a_model_that_cannot_load_at_start_is_one_line_and_exit_2(tmp_path, models_dir, workout):
    folder, _ = workout
    set_current(models_dir, "broken")
    cfg = write_config(tmp_path / "segread.json", models_dir, folder)
    notify = NotifySocket()
    proc = serve(cfg, notify, tmp_path / "serve.log")
    try:
        assert proc.wait(timeout=20) == 2
    finally:
        proc.kill()
        notify.close()
    err = (tmp_path / "serve.log").read_text().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segread: error: cannot load model") and "broken.onnx" in err[0]
    assert not any("READY=1" in m for m in notify.messages)


def test_a_lock_held_by_another_process_is_ridden_out_and_every_reading_written_once(tmp_path, models_dir):
    # A person's `sqlite3 segread.db` left in BEGIN IMMEDIATE longer than a write waits for it
    # (limits.lock_wait_s; 10 s by default, 0.5 s here): the service reads on and feeds the
    # watchdog, says once that the lock began and once that it ended, and then writes what it
    # kept, in order, each reading once, with the time it was read.
    folder = tmp_path / "frames-in"
    texts = write_workout(folder, seconds=8, per_second=20)  # 160 frames, paced at 20 fps
    cfg = write_config(tmp_path / "segread.json", models_dir, folder, source={"fps": 20}, limits={"lock_wait_s": 0.5})
    db, log = tmp_path / "state" / "segread.db", tmp_path / "serve.log"
    notify = NotifySocket()
    proc = serve(cfg, notify, log)
    holder = None
    try:
        notify.wait_for("READY=1")
        wait_readings(db, 20, proc)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        locked_at = time.time()
        wait_until(lambda: "locked by another process" in log.read_text(), proc, log)
        notify.drain()
        notify.messages.clear()
        notify.wait_for("WATCHDOG=1")  # sent while locked: the loop goes on, systemd's watchdog is fed
        while time.time() < locked_at + 3:  # six times as long as a write waits
            assert proc.poll() is None, f"service exited with {proc.returncode}: {log.read_text()}"
            time.sleep(0.05)
        holder.execute("ROLLBACK")
        freed_at = time.time()
        assert proc.wait(timeout=30) == 0, log.read_text()  # the folder ended
    finally:
        proc.kill()
        notify.close()
        if holder is not None:
            holder.close()
    lines = log.read_text().splitlines()
    assert len([line for line in lines if "locked by another process" in line]) == 1, lines
    assert len([line for line in lines if "free again" in line]) == 1, lines
    assert not [line for line in lines if "error" in line.lower()], lines
    store = open_db(db)
    rows = list(store.query("SELECT frame, text, status, wall FROM readings ORDER BY id"))
    assert [r["frame"] for r in rows] == [f"{i}.png" for i in range(len(texts))]  # each once, in order
    assert [r["text"] for r in rows] == texts and {r["status"] for r in rows} == {"accepted"}
    assert any(locked_at < r["wall"] < freed_at for r in rows)  # read while locked, stamped when read
    (session,) = list(store.query("SELECT * FROM sessions"))
    assert (session["readings"], session["end_reason"]) == (len(texts), "source ended")
    (locked,) = [e["detail"] for e in store.query("SELECT detail FROM events WHERE kind = 'db_locked'")]
    assert locked.startswith("locked for ") and "written late" in locked


def test_sigterm_while_waiting_for_a_locked_database_at_start_is_a_clean_stop(tmp_path, models_dir, workout):
    # `systemctl stop` while the service waits for a backup's lock: a stop asked for, no failure.
    folder, _ = workout
    cfg = write_config(tmp_path / "segread.json", models_dir, folder, limits={"lock_wait_s": 0.2})
    db, log = tmp_path / "state" / "segread.db", tmp_path / "serve.log"
    open_db(db).conn.close()  # made by an earlier start
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    notify = NotifySocket()
    proc = serve(cfg, notify, log)
    try:
        wait_until(lambda: "waiting for it" in log.read_text(), proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        proc.kill()
        notify.close()
        holder.close()
    lines = log.read_text().splitlines()
    assert not [line for line in lines if "error" in line.lower()], lines
    assert lines[-1] == "segread: stopped while waiting for the database: nothing was read", lines
    assert not any("READY=1" in m for m in notify.messages)


def test_a_network_camera_that_never_answers_leaves_the_watchdog_fed_and_a_stop_prompt(tmp_path, models_dir):
    # A real socket that takes the connection and never answers the request: OpenCV's open waits
    # for its own timeout (30 s). Before, the service waited inside it: no WATCHDOG=1 (systemd
    # killed it at WatchdogSec=30) and a SIGTERM heard only when the open gave up.
    camera = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    camera.bind(("127.0.0.1", 0))
    camera.listen(8)  # the kernel completes the handshake; nobody reads the request
    url = f"http://127.0.0.1:{camera.getsockname()[1]}/video.mjpg"
    cfg = write_config(tmp_path / "segread.json", models_dir, url, source={"spec": url, "live": True},
                       camera={"stall_s": 1.0, "open_s": 60.0})
    notify, log = NotifySocket(), tmp_path / "serve.log"
    proc = serve(cfg, notify, log, watchdog_usec=1_000_000)
    try:
        ready = notify.wait_for("READY=1")
        wait_until(lambda: sum(m == "WATCHDOG=1" for m in notify.messages[ready:]) >= 4, proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log.read_text()
    finally:
        proc.kill()
        notify.close()
        camera.close()
    lines = log.read_text().splitlines()
    assert lines[-1].startswith("segread: stopped: frames 0 read 0"), lines
    assert not [line for line in lines if "WARNING" in line or "error" in line.lower()], lines
