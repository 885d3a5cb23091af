"""Camera faults and model hot-swap, with the service running in this process on a real database,
real ONNX Runtime sessions and real image files; only the camera is scripted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture import FolderSource, Frame
from edge.errors import SourceError
from edge.models import set_current
from edge.service.camera import ResilientSource
from edge.service.config import load_config
from edge.service.service import Service
from edge.store import open_db
from tests.conftest import read_beside, segread_cmd, sessions_by_source, still_frames
from tests.edge.service.conftest import strip_image, write_config, write_workout


class FlakyCamera:
    """A live camera showing a workout clock (one display second per second) that misbehaves on
    schedule after a few good frames: open #1 raises inside the stream, #2 sends only garbage,
    #3 stalls, #4 ends; #5 cannot even open; #6 on is a good camera."""

    opens = 0

    def __init__(self, t0: float, fps: float = 40.0, good_frames: int = 12) -> None:
        FlakyCamera.opens += 1
        self.n, self.t0, self.fps, self.good = FlakyCamera.opens, t0, fps, good_frames
        if self.n == 5:
            raise SourceError("cannot open camera 0: no such device")

    def __iter__(self):
        for i in range(10_000):
            time.sleep(1 / self.fps)
            if i >= self.good and self.n <= 4:
                if self.n == 1:
                    raise SourceError("select() timeout")
                if self.n == 2:
                    yield Frame(np.zeros((0, 0, 3), np.uint8), "bad", i, 0.0)
                    continue
                if self.n == 3:
                    time.sleep(3600)
                return
            v = int(time.monotonic() - self.t0)
            yield Frame(strip_image(f"{v // 60:02d}{v % 60:02d}"), str(i), i, i / self.fps)

    def close(self) -> None:
        pass


def test_camera_outages_are_logged_recovered_and_do_not_split_the_session(tmp_path, models_dir):
    FlakyCamera.opens = 0
    cfg = load_config(write_config(
        tmp_path / "c.json", models_dir, "0", source={"live": True},
        camera={"stall_s": 0.4, "backoff_min": 0.05, "backoff_max": 0.1},
    ))
    t0 = time.monotonic()
    svc = Service(cfg, source_factory=lambda _: FlakyCamera(t0))
    stop = threading.Event()

    def stop_when_done():
        while FlakyCamera.opens < 6 and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        time.sleep(0.4)  # a few good frames from the last open
        stop.set()

    threading.Thread(target=stop_when_done, daemon=True).start()
    assert svc.run(stop) == 0
    db = open_db(cfg.database)
    events = [(e["kind"], e["detail"]) for e in db.query("SELECT kind, detail FROM events ORDER BY id")]
    outages = [d for k, d in events if k == "outage"]
    recovered = [d for k, d in events if k == "recovered"]
    assert len(outages) == len(recovered) == 4, events
    assert "select() timeout" in outages[0]
    assert "no usable frame" in outages[1] and "unusable" in outages[1]  # garbage only, for stall_s
    assert "no usable frame" in outages[2]  # stalled
    assert "stopped delivering" in outages[3]
    assert "2 failed attempt(s)" in recovered[3]  # the end, then a camera that would not open
    assert svc.camera.garbage > 0
    sessions = list(db.query("SELECT * FROM sessions"))
    assert len(sessions) == 1 and sessions[0]["end_reason"] == "stopped"
    readings = list(db.query("SELECT status, session_id FROM readings"))
    assert readings and all(r["status"] == "accepted" and r["session_id"] == 1 for r in readings)


def test_resilient_source_drops_only_for_a_live_camera(tmp_path):
    folder = tmp_path / "in"
    write_workout(folder, seconds=2, per_second=20)
    stop = threading.Event()
    replay = ResilientSource(lambda: FolderSource(folder), stop, live=False, buffer=1)
    frames = []
    for frame in replay:
        time.sleep(0.002)  # a reader slower than the folder
        frames.append(frame.name)
    assert frames == [f"{i}.png" for i in range(40)] and replay.dropped == 0

    live = ResilientSource(lambda: FolderSource(folder), stop, live=True, buffer=1, stall_s=0.3)
    got = 0
    for _ in live:
        got += 1
        time.sleep(0.01)
        if got == 5:
            stop.set()
    assert live.dropped > 0


def test_a_folder_reopened_after_a_fault_goes_on_where_it_was(tmp_path):
    # A file share that fails mid-folder: the reopened folder gives the frames after the last one
    # read, not the folder again from its first (each frame read, logged and queued once).
    folder = tmp_path / "in"
    write_workout(folder, seconds=1, per_second=8)

    class Glitchy(FolderSource):
        opened = 0

        def __iter__(self):
            Glitchy.opened += 1
            for k, frame in enumerate(super().__iter__()):
                if Glitchy.opened == 1 and k == 3:
                    raise OSError("stale file handle")
                yield frame

    replay = ResilientSource(lambda: Glitchy(folder), threading.Event(), live=False, backoff_min=0.01, backoff_max=0.02)
    frames = list(replay)
    assert [f.name for f in frames] == [f"{i}.png" for i in range(8)] and replay.outages == 1
    assert [f.t for f in frames] == sorted(f.t for f in frames)


def test_files_gone_from_a_paced_folder_take_no_time_and_raise_no_outage(tmp_path):
    # Deleted while the service replays it at 4 frames a second: 8 missing files would have been
    # 2 s without a frame, past the 0.5 s stall limit, and the folder was read again from its start.
    folder = tmp_path / "in"
    write_workout(folder, seconds=1, per_second=12)
    source = FolderSource(folder, fps=4)
    for i in range(2, 10):
        (folder / f"{i}.png").unlink()
    replay = ResilientSource(lambda: source, threading.Event(), live=False, stall_s=0.5, backoff_min=0.01)
    assert [f.name for f in replay] == ["0.png", "1.png", "10.png", "11.png"] and replay.outages == 0


def test_a_camera_out_of_focus_is_an_event_and_a_status_line_and_its_readings_are_held(tmp_path, models_dir):
    from edge.service.status import format_status, read_status

    folder = tmp_path / "in"
    texts = write_workout(folder, seconds=12, per_second=10)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, folder, source={"interval": 0.1}))
    soft = lambda i: 30 <= i < 60 or i >= 90  # noqa: E731 - out of focus, focused, out again to the end

    def source(_):
        for frame in FolderSource(folder, interval=0.1):
            yield Frame(cv2.GaussianBlur(frame.image, (0, 0), 6), frame.name, frame.index, frame.t) if soft(frame.index) else frame

    assert Service(cfg, source_factory=source).run(threading.Event()) == 0
    db = open_db(cfg.database)
    events = [(e["kind"], e["detail"]) for e in db.query("SELECT kind, detail FROM events ORDER BY id")
              if e["kind"] in ("out_of_focus", "in_focus")]
    assert [k for k, _ in events] == ["out_of_focus", "in_focus", "out_of_focus"], events
    assert events[0][1].startswith("blurred: the display is out of focus (edges ")
    rows = list(db.query("SELECT frame, text, status, reason FROM readings ORDER BY id"))
    assert len(rows) == len(texts)
    for i in (*range(35, 60), *range(95, 120)):  # past the first frames of the 9-frame window
        assert rows[i]["status"] == "held" and rows[i]["reason"].startswith("blurred: "), rows[i]
    for i in (*range(30), *range(66, 90)):
        assert rows[i]["status"] == "accepted" and rows[i]["text"] == texts[i], rows[i]
    said = format_status(read_status(db))  # the service stopped out of focus: its last beat says so
    assert any(line.startswith("camera: blurred: the display is out of focus") for line in said), said


def test_a_reload_to_blur_hold_0_reads_on_and_says_so_not_that_the_camera_was_focused(tmp_path, models_dir):
    folder = tmp_path / "in"
    texts = write_workout(folder, seconds=8, per_second=10)
    path = write_config(tmp_path / "c.json", models_dir, folder, source={"interval": 0.1})
    cfg = load_config(path)
    reload = threading.Event()

    def source(_):
        for frame in FolderSource(folder, interval=0.1):
            if frame.index == 30:
                write_config(path, models_dir, folder, source={"interval": 0.1}, reader={"blur_hold": 0})
                reload.set()
            yield Frame(cv2.GaussianBlur(frame.image, (0, 0), 6), frame.name, frame.index, frame.t)

    assert Service(cfg, config_path=path, source_factory=source).run(threading.Event(), reload) == 0
    db = open_db(cfg.database)
    events = [(e["kind"], e["detail"]) for e in db.query("SELECT kind, detail FROM events ORDER BY id")
              if e["kind"] in ("out_of_focus", "in_focus")]
    assert [k for k, _ in events] == ["out_of_focus", "in_focus"], events
    assert events[1][1] == "blur_hold is 0: reading regardless of the camera's focus"
    reasons = [r["reason"] or "" for r in db.query("SELECT reason FROM readings ORDER BY id")]
    assert len(reasons) == len(texts) and reasons[20].startswith("blurred: ")
    assert not any(r.startswith("blurred: ") for r in reasons[-20:])  # read on, blurred as it is


def test_a_camera_switched_by_reload_is_judged_on_its_own_focus(tmp_path, models_dir):
    # The old camera was out of focus: the new one's sharp frames are read at once, not held while
    # the old one's frames leave the window.
    soft, sharp = tmp_path / "soft", tmp_path / "sharp"
    write_workout(soft, seconds=20, per_second=10)
    for png in soft.glob("*.png"):
        cv2.imwrite(str(png), cv2.GaussianBlur(cv2.imread(str(png)), (0, 0), 6))
    texts = write_workout(sharp, seconds=3, per_second=10, start=100)
    path = write_config(tmp_path / "c.json", models_dir, soft, source={"interval": 0.1, "fps": 40})
    cfg = load_config(path)
    svc, stop, reload = Service(cfg, config_path=path), threading.Event(), threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop, reload), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (hasattr(svc, "reader") and svc.reader.stats.blurred >= 10):
        assert time.monotonic() < deadline and thread.is_alive(), "the soft camera was never held as blurred"
        time.sleep(0.02)
    write_config(path, models_dir, sharp, source={"interval": 0.1})
    reload.set()
    thread.join(timeout=60)
    stop.set()
    assert not thread.is_alive()
    db = open_db(cfg.database)
    rows = [r for r in db.query("SELECT text, status, reason FROM readings ORDER BY id") if r["text"] in texts]
    assert rows and not any((r["reason"] or "").startswith("blurred: ") for r in rows), rows[:5]


def test_new_model_is_swapped_between_frames_and_a_corrupt_one_is_refused(tmp_path, models_dir):
    folder = tmp_path / "in"
    texts = write_workout(folder, seconds=12, per_second=20)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, folder, source={"fps": 80, "interval": 0.05}))

    def source(_):
        for frame in FolderSource(folder, fps=80, interval=0.05):
            if frame.index == 40:
                set_current(models_dir, "strip-b")
            if frame.index == 140:
                set_current(models_dir, "broken")
            yield frame

    svc = Service(cfg, source_factory=source)
    assert svc.run(threading.Event()) == 0
    db = open_db(cfg.database)
    rows = list(db.query("SELECT frame, text, status, model FROM readings ORDER BY id"))
    assert [r["frame"] for r in rows] == [f"{i}.png" for i in range(len(texts))]  # no frame lost
    assert [r["text"] for r in rows] == texts and {r["status"] for r in rows} == {"accepted"}
    models = [r["model"] for r in rows]
    switch = models.index("strip-b")
    # The pointer moved when the capture thread took frame 40, which may be up to the buffer's
    # frames and the one in hand ahead of the reader (a slow machine fills the buffer).
    ahead = cfg.camera.buffer + 1
    assert 40 - ahead <= switch < 140 and set(models[:switch]) == {"strip-a"} and set(models[switch:]) == {"strip-b"}
    kinds = {e["kind"]: e["detail"] for e in db.query("SELECT kind, detail FROM events")}
    assert kinds["model_swap"] == "strip-a -> strip-b on CPU"
    assert "broken.onnx" in kinds["model_refused"]
    assert svc.reader.detector.model_id == "strip-b"


def test_a_pointer_naming_a_missing_model_is_refused_without_loading(tmp_path, models_dir):
    from edge.service.hotswap import ModelWatcher

    events = []
    loads = []
    watcher = ModelWatcher(models_dir / "current", lambda p: loads.append(p) or p, lambda k, d: events.append((k, d)), poll_s=0.0)
    (models_dir / "current").write_text("nope\n")
    assert watcher.poll() is None
    assert events and events[0][0] == "model_refused" and "nope" in events[0][1] and not loads
    set_current(models_dir, "strip-b")
    watcher.poll()
    assert watcher.wait() == models_dir / "strip-b.onnx"


def test_current_as_a_link_to_a_model_is_read_and_followed_when_it_is_pointed_elsewhere(tmp_path, models_dir):
    # `ln -sfn strip-a.onnx current`, as people point at a release: the link is the pointer (its
    # contents are the model's bytes, no name), and pointing it elsewhere swaps the model.
    import os

    from edge.models import current_name, resolve_model
    from edge.service.hotswap import ModelWatcher

    pointer = models_dir / "current"
    pointer.unlink()
    pointer.symlink_to("strip-a.onnx")
    assert resolve_model(models_dir) == models_dir / "strip-a.onnx" and current_name(models_dir) == "strip-a"
    watcher = ModelWatcher(pointer, lambda p: p, lambda k, d: None, poll_s=0.0)
    assert watcher.first() == models_dir / "strip-a.onnx"
    (models_dir / "next").symlink_to("strip-b.onnx")
    os.replace(models_dir / "next", pointer)
    watcher.poll()
    assert watcher.wait() == models_dir / "strip-b.onnx"
    # A copy of a model named `current` is that model.
    pointer.unlink()
    pointer.write_bytes((models_dir / "strip-a.onnx").read_bytes())
    assert resolve_model(models_dir) == pointer


@pytest.mark.parametrize("image", [None, np.zeros((0, 5, 3), np.uint8), np.zeros(7, np.uint8), "frame"])
def test_garbage_frames_are_not_passed_to_the_reader(image):
    from edge.service.camera import usable

    assert not usable(image)
    assert usable(np.zeros((4, 4, 3), np.uint8))


def test_unsure_frames_are_queued_for_review_with_their_images(tmp_path, models_dir):
    pytest.importorskip("edge.review.queue", reason="the review stage is not in this checkout")
    folder = tmp_path / "in"
    write_workout(folder, seconds=6, per_second=2)
    cfg = load_config(write_config(
        tmp_path / "c.json", models_dir, folder, source={"interval": 0.5},
        queue={"enabled": True, "random_rate": 1.0, "per_hour": 1000},
    ))
    svc = Service(cfg)
    svc.run(threading.Event())
    db = open_db(cfg.database)
    items = list(db.query("SELECT image, model, status FROM review_items"))
    assert items and all(i["model"] == "strip-a" and i["status"] == "pending" for i in items)
    assert all((Path(cfg.database).parent / i["image"]).is_file() for i in items)



def test_a_queue_stopped_by_a_folder_it_could_not_write_resumes_when_it_can(tmp_path, models_dir):
    pytest.importorskip("edge.review.queue", reason="the review stage is not in this checkout")
    from tests.conftest import read_only

    folder = tmp_path / "in"
    write_workout(folder, seconds=12, per_second=2)
    cfg = load_config(write_config(
        tmp_path / "c.json", models_dir, folder, source={"interval": 0.5, "fps": 6},
        queue={"enabled": True, "random_rate": 1.0, "per_hour": 1000}, limits={"check_s": 1, "min_free_mb": 0},
    ))
    Path(cfg.frames_dir).mkdir(parents=True)
    svc = Service(cfg)
    thread = threading.Thread(target=svc.run, args=(threading.Event(),), daemon=True)
    db = open_db(cfg.database)
    with read_only(Path(cfg.frames_dir)):
        thread.start()
        deadline = time.monotonic() + 20
        while not list(db.query("SELECT 1 FROM events WHERE kind = 'review-queue-stopped'")) and time.monotonic() < deadline:
            time.sleep(0.05)
    thread.join(timeout=60)
    kinds = [e["kind"] for e in db.query("SELECT kind FROM events ORDER BY id")]
    assert kinds.index("review-queue-stopped") < kinds.index("queue_resumed")
    assert db.execute("SELECT count(*) FROM review_items").fetchone()[0] > 0


def test_an_export_that_failed_is_written_at_a_later_limits_check(tmp_path, models_dir):
    from tests.conftest import read_only

    folder = tmp_path / "in"
    write_workout(folder, seconds=3)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, folder))
    Path(cfg.exports_dir).mkdir(parents=True)
    svc = Service(cfg)
    with read_only(Path(cfg.exports_dir)):
        svc.run(threading.Event())  # the session ends with the folder; its export cannot be written
    assert not any(Path(cfg.exports_dir).iterdir())
    svc.check_limits()
    assert sorted(p.suffix for p in Path(cfg.exports_dir).iterdir()) == [".csv", ".tcx"]
    kinds = [e["kind"] for e in open_db(cfg.database).query("SELECT kind FROM events ORDER BY id")]
    assert kinds.count("export_failed") == 1 and kinds[-1] == "exported"


def test_a_size_limit_nothing_more_can_meet_is_said_once_not_at_every_check(tmp_path, models_dir, caplog):
    # max_db_mb below what is never pruned (the sessions' rows, the schema): the first check prunes
    # what it may and says the database is still over; later checks would only prune that note
    # and write another, each time.
    folder = tmp_path / "in"
    write_workout(folder, seconds=3)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, folder, limits={"max_db_mb": 0.001}))
    svc = Service(cfg)
    svc.run(threading.Event())  # its own checks pruned what the open session allowed
    svc.check_limits()  # the closed session's readings go now
    caplog.clear()
    with caplog.at_level("WARNING", logger="edge.service.service"):
        for _ in range(4):
            svc.check_limits()
    assert not [r.getMessage() for r in caplog.records if r.getMessage().startswith("pruned")]
    kinds = [e["kind"] for e in open_db(cfg.database).query("SELECT kind FROM events ORDER BY id")]
    assert kinds.count("pruned") <= 1


def test_a_loop_that_fails_records_why_not_that_the_source_ended(tmp_path, models_dir):
    # A bug escaping the read loop (here the model's runtime, on the fourth frame) ends the service,
    # and systemd restarts it; the log says why it stopped.
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, "0", source={"live": False}))
    frames = [Frame(strip_image(f"01{i:02d}"), str(i), i, float(i)) for i in range(8)]
    svc = Service(cfg, source_factory=lambda _: iter(frames))
    stop = threading.Event()
    svc.open(stop)
    detect, calls = svc.reader.detector.detect, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("CUDA error: an illegal memory access")
        return detect(*args, **kwargs)

    svc.reader.detector.detect = failing
    with pytest.raises(RuntimeError):
        svc.run(stop)
    db = open_db(cfg.database)
    stops = [e["detail"] for e in db.query("SELECT detail FROM events WHERE kind = 'stop'")]
    assert stops == ["error: RuntimeError: CUDA error: an illegal memory access"]


def test_a_second_service_on_the_database_is_refused_and_the_first_keeps_its_session(tmp_path, models_dir):
    from edge.errors import StoreError

    folder = tmp_path / "in"
    write_workout(folder, seconds=3)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, folder))
    first, stop = Service(cfg), threading.Event()
    first.open(stop)
    with pytest.raises(StoreError, match=r"in use by another segread serve \(pid \d+\)"):
        Service(cfg).open(threading.Event())
    assert first.run(stop) == 0  # its session was not closed under it as interrupted
    reasons = [s["end_reason"] for s in open_db(cfg.database).query("SELECT end_reason FROM sessions")]
    assert reasons == ["source ended"]
    second = Service(cfg)  # free once the first stopped
    second.open(threading.Event())
    second._lock.close()



def test_a_service_starting_leaves_open_the_session_of_a_read_beside_it(tmp_path, models_dir, tiny_onnx):
    # `segread read` may log to the service's database while the service starts: the service
    # closes (and exports) only the sessions whose writer is gone, never the running read's.
    write_workout(tmp_path / "in", seconds=3)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, tmp_path / "in"))
    frames = still_frames(tmp_path / "beside", 400)
    proc = read_beside(frames, tiny_onnx, cfg.database)
    try:
        svc = Service(cfg)
        svc.open(threading.Event())
        svc._lock.close()
        assert sessions_by_source(cfg.database)[str(frames)]["status"] == "open"
        assert not cfg.exports_dir.exists() or not any(cfg.exports_dir.iterdir())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert sessions_by_source(cfg.database)[str(frames)]["end_reason"] == "stopped"

def test_a_killed_service_s_session_is_left_by_a_read_for_the_service_to_close_and_export(tmp_path, models_dir, tiny_onnx):
    # kill -9 of the service, then a `segread read` on its database before it restarts: the read
    # leaves the service's session open; the service's next start closes it and writes its exports.
    write_workout(tmp_path / "in", seconds=3)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, tmp_path / "in"))
    killed = Service(cfg)
    killed.open(threading.Event())
    killed.session_log.record(killed.reader.process(next(iter(killed.camera))))  # a held first reading
    killed.session_log.record(killed.reader.process(next(iter(killed.camera))))
    sid = killed.session_log.session_id
    assert sid is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with open_db(cfg.database).conn as conn:  # its writer as a killed process leaves it: not running
        writer = json.loads(conn.execute("SELECT writer FROM sessions WHERE id = ?", [sid]).fetchone()[0])
        conn.execute("UPDATE sessions SET writer = ? WHERE id = ?", [json.dumps({**writer, "pid": int(dead.stdout)}), sid])
    killed._lock.close()
    read = subprocess.run(segread_cmd("read", still_frames(tmp_path / "later", 3), "--model", tiny_onnx, "--db",
                                      cfg.database, "--no-dedup", "--no-queue"), capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    assert open_db(cfg.database)["sessions"].get(sid)["status"] == "open"
    again = Service(cfg)
    again.open(threading.Event())
    again._lock.close()
    session = open_db(cfg.database)["sessions"].get(sid)
    assert (session["status"], session["end_reason"]) == ("closed", "interrupted")
    assert sorted(p.name.split("-")[1] for p in cfg.exports_dir.iterdir()) == [f"{sid:05d}"] * 2


def test_a_reload_during_an_outage_fixes_the_camera_and_keeps_the_database(tmp_path, models_dir):
    # The camera index was wrong: `systemctl reload` with the right source must work while no frame
    # comes. The reloaded file also names another database, which needs a restart: the open one stays.
    folder = tmp_path / "in"
    write_workout(folder, seconds=3)
    path = write_config(tmp_path / "c.json", models_dir, tmp_path / "no-such-folder")
    cfg = load_config(path)
    svc, stop, reload = Service(cfg, config_path=path), threading.Event(), threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop, reload), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (hasattr(svc, "camera") and svc.camera.in_outage):  # no frame from the missing folder
        assert time.monotonic() < deadline, "the service never reported the outage"
        time.sleep(0.05)
    write_config(path, models_dir, folder, database="elsewhere/segread.db")
    reload.set()
    thread.join(timeout=60)
    stop.set()
    assert not thread.is_alive()
    db = open_db(cfg.database)
    events = {e["kind"]: e["detail"] for e in db.query("SELECT kind, detail FROM events ORDER BY id")}
    assert "recovered" in events and f"database stays {cfg.database} until a restart" in events["config_reloaded"]
    assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 3
    assert [r["source"] for r in db.query("SELECT source FROM sessions")] == [str(folder)]  # the camera it read
    assert svc.cfg.database == cfg.database and not (tmp_path / "elsewhere").exists()


def test_status_trusts_a_slow_heartbeat_for_three_of_its_beats(tmp_path):
    from edge.service.status import Heartbeat, read_status

    db = open_db(tmp_path / "s.db")
    Heartbeat(db, every=60).beat("running", {"heartbeat_s": 60}, force=True)
    db.execute("UPDATE service_status SET updated_at = updated_at - 100")
    assert read_status(db)["service"]["state"] == "running"  # 100 s since a beat every 60 s
    db.execute("UPDATE service_status SET updated_at = updated_at - 100")
    assert read_status(db)["service"]["state"].startswith("not running")


def test_a_service_started_while_another_process_holds_the_database_waits_for_it(tmp_path, models_dir, caplog):
    # A backup at boot holds the database: failing at once, systemd would restart the service five
    # times in a minute and then give up on it for good.
    import sqlite3

    folder = tmp_path / "in"
    write_workout(folder, seconds=3)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, folder, limits={"lock_wait_s": 0.2}))
    open_db(cfg.database).conn.close()  # made by an earlier start
    holder = sqlite3.connect(cfg.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    svc, outcome = Service(cfg), []
    thread = threading.Thread(target=lambda: outcome.append(svc.run(threading.Event())), daemon=True)
    with caplog.at_level("WARNING", logger="edge.service.service"):
        thread.start()
        deadline = time.monotonic() + 20
        while not any("waiting for it" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # several tries, each 0.2 s
        assert thread.is_alive()
        holder.execute("COMMIT")
        thread.join(timeout=60)
    assert outcome == [0]
    said = [r.getMessage() for r in caplog.records]
    assert sum("waiting for it" in m for m in said) == 1 and any("is free again: starting" in m for m in said)
    db = open_db(cfg.database)
    assert db.execute("SELECT count(*) FROM readings WHERE status = 'accepted'").fetchone()[0] > 0


def test_a_source_that_hangs_opening_is_an_outage_and_the_next_open_reads(tmp_path):
    # The first open never returns (a camera that took the connection and went silent): after
    # open_s it is an outage, the next open reads, and the wait was heard by on_wait throughout.
    folder = tmp_path / "in"
    write_workout(folder, seconds=1, per_second=5)
    hung, opens, waits, events = threading.Event(), [], [], []

    def open_camera():
        opens.append(1)
        if len(opens) == 1:
            hung.wait(60)
        return FolderSource(folder)

    stop = threading.Event()
    live = ResilientSource(open_camera, stop, live=True, open_s=0.5, stall_s=0.5, tick=0.05, buffer=16,
                           backoff_min=0.01, backoff_max=0.02, on_event=lambda kind, detail: events.append((kind, detail)),
                           on_wait=lambda: waits.append(1), name="camera")
    names = []
    for frame in live:
        names.append(frame.name)
        if len(names) == 5:
            stop.set()
    hung.set()
    assert names == [f"{i}.png" for i in range(5)]
    assert events[0] == ("outage", "camera did not open within 0.5 s") and events[1][0] == "recovered"
    assert len(waits) >= 5  # about every tick while the open hung


def test_a_stop_is_heard_while_a_source_is_still_opening():
    hung, waits = threading.Event(), []

    def open_camera():
        hung.wait(60)
        raise SourceError("cannot open camera")

    stop = threading.Event()
    live = ResilientSource(open_camera, stop, live=True, open_s=60, tick=0.05, on_wait=lambda: waits.append(1))
    reader = threading.Thread(target=lambda: list(live), daemon=True)
    reader.start()
    while len(waits) < 3:
        assert reader.is_alive()
        time.sleep(0.01)
    stop.set()
    reader.join(10)
    hung.set()
    assert not reader.is_alive() and live.outages == 0
