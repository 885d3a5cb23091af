import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.capture import FolderSource, Frame, open_source
from edge.dedup import DedupGate
from edge.errors import SourceError
from edge.pipeline import Reader
from tests.conftest import FakeDetector, digits_at, still_frames


def _write(folder, names):
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((32, 48, 3), 20 * i, np.uint8))


def test_folder_replays_in_natural_order_with_names_and_timestamps(tmp_path):
    _write(tmp_path / "f", ["10.jpg", "2.jpg", "1.jpg"])
    frames = list(FolderSource(tmp_path / "f", interval=1.5))
    assert [f.name for f in frames] == ["1.jpg", "2.jpg", "10.jpg"]
    assert [f.t for f in frames] == [0.0, 1.5, 3.0]


def test_corrupt_jpeg_is_skipped_and_counted(tmp_path):
    _write(tmp_path / "f", ["0.jpg", "2.jpg"])
    (tmp_path / "f" / "1.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    src = FolderSource(tmp_path / "f")
    assert [f.name for f in src] == ["0.jpg", "2.jpg"]
    assert src.corrupt == ["1.jpg"]


def test_unreadable_sources_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="missing': no such file or folder"):
        open_source(str(tmp_path / "missing"))
    with pytest.raises(SourceError, match="not a folder, an image, a video file"):
        open_source("webcam")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path / "empty"))


def test_an_image_file_is_one_still_frame_named_after_it(tmp_path):
    _write(tmp_path / "f", ["shot.png"])
    src = open_source(str(tmp_path / "f" / "shot.png"))
    frames = list(src)
    assert [(f.name, f.index, f.t) for f in frames] == [("shot.png", 0, 0.0)] and src.still
    (tmp_path / "f" / "broken.jpg").write_bytes(b"\xff\xd8 not an image")
    with pytest.raises(SourceError, match="cannot read image .*broken.jpg"):
        open_source(str(tmp_path / "f" / "broken.jpg"))


def test_video_file_source(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    frames = list(open_source(str(path)))
    assert len(frames) == 5 and frames[1].t == pytest.approx(0.1)


def mjpeg_mkv(path, times_ms: list[int], size=(64, 48)):
    """A Matroska file of MJPEG frames stamped at `times_ms`, as a phone's variable frame rate
    leaves them (OpenCV writes only a constant rate)."""

    def element(id_hex: str, data) -> bytes:
        if isinstance(data, int):
            data = data.to_bytes(max(1, (data.bit_length() + 7) // 8), "big")
        data = data.encode() if isinstance(data, str) else data
        length = next(n for n in range(1, 9) if len(data) < (1 << (7 * n)) - 1)
        return bytes.fromhex(id_hex) + (len(data) | (1 << (7 * length))).to_bytes(length, "big") + data

    w, h = size
    blocks = b"".join(
        element("A3", b"\x81" + int(ms).to_bytes(2, "big") + b"\x80"
                + cv2.imencode(".jpg", np.full((h, w, 3), 20 * i, np.uint8))[1].tobytes())
        for i, ms in enumerate(times_ms)
    )
    header = element("1A45DFA3", element("4282", "matroska") + element("4287", 4) + element("4285", 2))
    info = element("1549A966", element("2AD7B1", 1_000_000))  # timestamps in milliseconds
    video = element("E0", element("B0", w) + element("BA", h))
    tracks = element("1654AE6B", element("AE", element("D7", 1) + element("73C5", 1) + element("83", 1)
                                         + element("86", "V_MJPEG") + video))
    path.write_bytes(header + element("18538067", info + tracks + element("1F43B675", element("E7", 0) + blocks)))
    return path


def test_a_video_at_a_variable_frame_rate_is_timed_by_its_frames_own_timestamps(tmp_path):
    # index / fps would put the 4th frame at 0.15 s, where it was taken at 0.4 s.
    path = mjpeg_mkv(tmp_path / "phone.mkv", [0, 100, 150, 400, 1000, 1100])
    frames = list(open_source(str(path)))
    assert [f.t for f in frames] == pytest.approx([0.0, 0.1, 0.15, 0.4, 1.0, 1.1])


def test_dedup_skips_unchanged_and_too_soon_but_reads_at_max_interval():
    gate = DedupGate(min_interval=0.5, max_interval=3.0, min_change=4.0)
    a = np.full((60, 80, 3), 100, np.uint8)
    b = a.copy()
    b[10:50, 10:70] = 200
    assert gate.update(a, 0.0) is None
    assert gate.update(b, 0.2) == "interval"
    assert gate.update(a, 1.0) == "unchanged"
    assert gate.update(b, 1.5) is None
    assert gate.update(b, 2.0) == "unchanged"
    assert gate.update(b, 4.6) is None  # overdue: read anyway
    assert (gate.skipped_interval, gate.skipped_same) == (1, 2)


def test_dedup_ignores_the_tracked_region_moving_a_little():
    gate = DedupGate(min_interval=0.0, max_interval=100.0)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)
    assert gate.update(frame, 0.0, (40, 30, 160, 90)) is None
    assert gate.update(frame, 1.0, (42, 31, 162, 91)) == "unchanged"
    changed = frame.copy()
    changed[40:80, 130:155] = 255 - changed[40:80, 130:155]  # one digit of four changes
    assert gate.update(changed, 2.0, (42, 31, 162, 91)) is None


def test_dedup_reads_a_frame_of_another_size_rather_than_compare_the_region_tracked_on_the_last():
    gate = DedupGate(min_interval=0.0, max_interval=100.0)
    assert gate.update(lcd(False), 0.0, (200, 20, 310, 160)) is None
    small = cv2.resize(lcd(False), (64, 36))  # the camera back at a lower resolution: the region lies outside it
    assert gate.update(small, 1.0) is None
    assert gate.update(small, 2.0) == "unchanged"  # then judged as any frame
    assert gate.update(lcd(False), 3.0, (200, 20, 310, 160)) is None


def lcd(shows_eight: bool, light: float = 1.0, sigma: float = 0.0, seed: int = 0) -> np.ndarray:
    """A grey LCD (ground 150) with four dark digits drawn as bars; the last one's middle bar lit
    or not (an 8 or a 0), dimmed to `light`, with fresh sensor noise of `sigma`."""
    img = np.full((180, 320, 3), 150.0)
    for x in (40, 110, 180, 250):
        img[30:150, x:x + 8] = img[30:150, x + 40:x + 48] = img[30:38, x:x + 48] = img[142:150, x:x + 48] = 50
    if shows_eight:
        img[86:94, 250:298] = 50
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape) if sigma else 0
    return np.clip(img * light + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("light, sigma", [(1.0, 2.0), (1.0, 8.0), (0.15, 1.0)])
def test_dedup_sees_one_segment_change_in_dim_light_and_not_the_noise_of_a_still_display(light, sigma):
    # One segment of one digit (a 0 turning into an 8) is a change at full light, under heavy
    # noise, and at 0.15 of the light (there it moves a cell's mean by 1.4 grey levels); the same
    # display again, with fresh noise, is not.
    gate = DedupGate(min_interval=0.0, max_interval=100.0)
    assert gate.update(lcd(False, light, sigma, seed=0), 0.0) is None
    assert gate.update(lcd(False, light, sigma, seed=1), 1.0) == "unchanged"
    assert gate.update(lcd(True, light, sigma, seed=2), 2.0) is None
    assert gate.update(lcd(True, light, sigma, seed=3), 3.0) == "unchanged"


def test_dedup_disabled_reads_everything():
    gate = DedupGate(enabled=False)
    a = np.zeros((10, 10, 3), np.uint8)
    assert all(gate.update(a, t * 0.01) is None for t in range(5))


def test_a_skipped_frame_says_which_dedup_rule_skipped_it():
    reader = Reader(FakeDetector(default=digits_at("0753")), dedup=DedupGate(min_interval=0.5, max_interval=10.0))
    image = np.full((200, 400, 3), 120, np.uint8)
    records = [reader.process(Frame(image, f"{i}.jpg", i, t)).to_json() for i, t in enumerate((0.0, 0.2, 1.0))]
    # The first frame read waits for a frame to follow it (`Reader.awaiting`); dedup skips the next two.
    assert [r["status"] for r in records] == ["held", "skipped", "skipped"] and reader.awaiting is not None
    assert "too soon" in records[1]["reason"] and "looks the same" in records[2]["reason"]
    assert records[1]["reading"] is None and records[1]["digits"] == []


def test_a_camera_that_does_not_exist_is_one_line_on_stderr_without_opencvs_own_log(tmp_path):
    # OpenCV logs a warning per capture backend it tried (a multi-line VIDEOIO/FFMPEG block among
    # them) and an obsensor error for a camera index out of range; segread's own line says it all.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    out = subprocess.run([sys.executable, "-m", "edge.cli", "read", "99", "--db", str(tmp_path / "s.db"), "--no-queue"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2
    why = ": no camera at /dev/video99: unplugged? `ls /dev/v4l/by-id` lists the cameras plugged in" if LINUX else ""
    assert out.stderr.splitlines() == [f"segread: error: cannot open video source 99{why}"]


LINUX = sys.platform.startswith("linux")


@pytest.mark.skipif(not LINUX, reason="device nodes are Linux's")
def test_a_webcam_named_by_its_device_path_says_in_one_line_why_it_cannot_be_read(tmp_path):
    # A camera's stable name (/dev/v4l/by-id/...) survives a replug that gives it another number;
    # before, any /dev path was "not a folder, an image, a video file, a camera index or a stream URL".
    gone = tmp_path / "usb-Logitech_C270-video-index0"
    gone.symlink_to("/dev/video57")  # a by-id link whose camera is unplugged
    said = {}
    for spec in ("/dev/v4l/by-id/usb-none-video-index0", str(gone), "/dev/null"):
        out = subprocess.run([sys.executable, "-m", "edge.cli", "read", spec, "--db", str(tmp_path / "s.db"), "--no-queue"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        said[spec] = out.stderr.splitlines()
    assert said["/dev/v4l/by-id/usb-none-video-index0"] == [
        "segread: error: no camera at /dev/v4l/by-id/usb-none-video-index0: unplugged? `ls /dev/v4l/by-id` lists the cameras plugged in"]
    assert said[str(gone)] == [
        f"segread: error: no camera at {gone} (-> /dev/video57): unplugged? `ls /dev/v4l/by-id` lists the cameras plugged in"]
    assert said["/dev/null"] == ["segread: error: cannot open video source '/dev/null': /dev/null is no video device"]


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_a_camera_named_by_its_device_path_is_live_and_a_video_under_dev_is_a_file():
    from edge.webcam import is_device
    from edge.service.config import SourceConfig

    assert SourceConfig(spec="/dev/v4l/by-id/usb-Logitech_C270-video-index0").is_live()  # drops frames, not waits
    video = f"/dev/shm/segread-test-{os.getpid()}.mp4"  # a video kept in memory is a file to replay
    try:
        with open(video, "wb"):
            pass
        assert is_device("/dev/video0") and not is_device(video) and not is_device("rtsp://cam/live")
    finally:
        os.remove(video)


def test_importing_the_capture_stage_leaves_opencvs_log_level_alone():
    code = ("import cv2; before = cv2.utils.logging.getLogLevel(); import edge.capture, os; "
            "assert cv2.utils.logging.getLogLevel() == before and 'OPENCV_FFMPEG_LOGLEVEL' not in os.environ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 0


def test_a_size_is_asked_of_a_webcam_only_and_said_where_the_camera_gives_another(tmp_path, caplog):
    # OpenCV opens a webcam at 640x480; `--size` asks for more. Asked of a folder or a stream, it
    # would do nothing: one line says so. A source that offers one size (a video file, standing in
    # for a camera without that mode) keeps its own, and says which, once.
    from edge.capture import VideoSource
    from edge.service.config import SourceConfig

    frames = still_frames(tmp_path / "frames", 2)
    out = subprocess.run([sys.executable, "-m", "edge.cli", "read", str(frames), "--size", "1280x720",
                          "--db", str(tmp_path / "s.db"), "--no-queue"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.splitlines() == [
        f"segread: error: a size is asked of a webcam (an index or /dev/video*), not of {frames}"]
    bad = subprocess.run([sys.executable, "-m", "edge.cli", "read", "0", "--size", "1280"], capture_output=True, text=True)
    assert bad.returncode == 2 and "size '1280' is not WIDTHxHEIGHT in pixels, such as 1280x720" in bad.stderr
    with pytest.raises(ValueError, match="size is asked of a webcam"):
        SourceConfig(spec="rtsp://rower:s3cret@cam/live", size="1280x720")
    assert SourceConfig(spec="/dev/v4l/by-id/usb-cam-video-index0", size="1280x720").frame_size() == (1280, 720)

    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 100, np.uint8))
    writer.release()
    for _ in range(2):
        VideoSource(str(video), size=(1280, 720)).close()
    said = [r.getMessage() for r in caplog.records if "asked" in r.getMessage()]
    assert said == [f"camera {video} gives 64x48, not the 1280x720 asked: a size it does not offer"]


@pytest.mark.parametrize("spec, said", [
    ("2147483648", "segread: error: camera index 2147483648 is out of range (a webcam is 0, 1, ...)"),  # a cv2.error traceback
    ("rtsp://[::1/live", "segread: error: cannot open rtsp://[::1/live: not a URL (Invalid IPv6 URL)"),  # a ValueError traceback
    ("", "segread: error: the source is empty: name a folder, a file, a camera (0) or a URL"),  # read the current folder
    ("/dev/shm/segread-no-such-ride.avi", "segread: error: source '/dev/shm/segread-no-such-ride.avi': no such file or folder"),
])
def test_sources_that_cannot_be_are_one_line(tmp_path, spec, said):
    out = subprocess.run([sys.executable, "-m", "edge.cli", "read", spec, "--db", str(tmp_path / "s.db"), "--no-queue"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.splitlines() == [said]


def test_a_read_whose_source_does_not_open_leaves_an_earlier_jsonl_as_it_was(tmp_path):
    earlier = tmp_path / "out.jsonl"
    earlier.write_text('{"frame": "0.jpg"}\n')
    out = subprocess.run([sys.executable, "-m", "edge.cli", "read", str(tmp_path / "gone"), "--jsonl", str(earlier),
                          "--db", str(tmp_path / "s.db"), "--no-queue"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and earlier.read_text() == '{"frame": "0.jpg"}\n'
