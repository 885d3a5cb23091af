"""`segread look`: aiming the camera. Real frames (the synthetic workout, drawn over as a camera's
view goes wrong), the shipped model, the saved image read back."""

import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler

import cv2
import numpy as np
import pytest

from edge.models import DEFAULT_MODELS_DIR
from edge.synth import write_workout_folder
from tests.conftest import segread_cmd
from tests.edge.test_network_sources import serving

pytestmark = pytest.mark.skipif(not (DEFAULT_MODELS_DIR / "current").is_file(), reason="no shipped model")
GREEN, ORANGE = (0, 200, 0), (0, 165, 255)


@pytest.fixture(scope="module")
def workout(tmp_path_factory):
    folder = tmp_path_factory.mktemp("look") / "frames"
    write_workout_folder(folder, seconds=8, fps=2.0, start="07:50")
    return folder


def look(source, out, *args) -> tuple[int, list[str]]:
    done = subprocess.run(segread_cmd("look", source, "--device", "cpu", "--out", out, *args),
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr.splitlines()


def display_box(said: list[str]) -> tuple[int, int, int, int]:
    x1, x2, y1, y2 = map(int, re.search(r"at x (\d+)-(\d+), y (\d+)-(\d+)", "\n".join(said)).groups())
    return x1, y1, x2, y2


def painted(image: np.ndarray, colour) -> int:
    return int(np.all(image == colour, axis=2).sum())


def changed(folder, tmp_path, change) -> object:
    out = tmp_path / "changed"
    out.mkdir(parents=True)
    for path in sorted(folder.glob("*.jpg")):
        cv2.imwrite(str(out / f"{path.stem}.png"), change(cv2.imread(str(path))))
    return out


def test_a_clear_view_reads_and_saves_the_last_frame_with_its_digits_boxed(workout, tmp_path):
    rc, said = look(workout, tmp_path / "look.png")
    assert rc == 0, said
    assert "10 frame(s) of 1280x720" in said[1] and "all 4 digits found in 10" in said[1]
    assert re.match(r"reading: 07:5\d accepted on the last frame; \d+ accepted, 0 held", said[2]), said
    assert not [line for line in said if line.startswith("hint:")], said
    assert re.search(r"; edges [1-9]% of their height \(in focus about 5%, held from 16%\)$", said[3]), said
    saved = cv2.imread(str(tmp_path / "look.png"))
    assert saved.shape == (720, 1280, 3)
    x1, y1, x2, y2 = display_box(said)
    assert painted(saved[y1:y2, x1:x2], GREEN) > 100 and painted(saved, ORANGE) == 0  # the boxes, accepted
    assert painted(cv2.imread(str(workout / "9.jpg")), GREEN) == 0


def test_glare_a_dark_room_a_far_camera_and_a_blur_are_each_named(workout, tmp_path):
    _, said = look(workout, tmp_path / "clear.png")
    x1, y1, x2, y2 = display_box(said)

    def glare(img):
        cv2.ellipse(img, ((x1 + x2) // 2, (y1 + y2) // 2), ((x2 - x1) // 4, (y2 - y1) // 3), 0, 0, 360, (255, 255, 255), -1)
        return img

    hints = {}
    for name, change in (("glare", glare),
                         ("dark", lambda img: (img * 0.15).astype(np.uint8)),
                         ("far", lambda img: cv2.resize(img, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)),
                         ("edge", lambda img: np.ascontiguousarray(img[:, x1 + 4:])),  # the camera turned: the display at its left
                         ("blurred", lambda img: cv2.GaussianBlur(img, (0, 0), 7))):  # out of focus
        _, said = look(changed(workout, tmp_path / name, change), tmp_path / f"{name}.png")
        hints[name] = [line for line in said if line.startswith("hint:")]
    assert any(h.startswith("hint: glare: ") and "blown out" in h for h in hints["glare"]), hints
    assert any(h.startswith("hint: the display is dark") for h in hints["dark"]), hints
    assert any(re.match(r"hint: the digits are \d+ px tall", h) or h.startswith("hint: no digits found")
               for h in hints["far"]), hints
    assert any(h.startswith("hint: the display touches the frame's left edge") for h in hints["edge"]), hints
    assert [h for h in hints["blurred"] if "blurred" in h] and not any("blurred" in h for h in hints["dark"] + hints["edge"])
    assert not any("glare" in h for h in hints["dark"] + hints["far"] + hints["edge"])
    assert not any("touches the frame" in h for h in hints["glare"] + hints["dark"]), hints


def test_glare_that_whitens_the_whole_display_is_named_where_it_is(workout, tmp_path):
    # No digit is left to judge glare by: whatever the model finds instead is not the display.
    _, said = look(workout, tmp_path / "clear.png")
    x1, y1, x2, y2 = display_box(said)

    def whitened(img):
        img[y1 - 10:y2 + 10, x1 - 10:x2 + 10] = 255
        return img

    rc, said = look(changed(workout, tmp_path / "white", whitened), tmp_path / "white.png")
    hints = [line for line in said if line.startswith("hint:")]
    assert rc == 1 and hints, said
    patch = re.match(r"hint: glare: a blown-out patch covers \d+% of the frame at x (\d+)-(\d+), y (\d+)-(\d+): ", hints[0])
    assert patch, hints
    assert np.allclose([int(v) for v in patch.groups()], [x1 - 10, x2 + 10, y1 - 10, y2 + 10], atol=2)  # the white, give or take a bright pixel beside it
    assert sum(h.startswith("hint: glare") for h in hints) == 1, hints  # said once, not again for the box


def test_no_display_in_view_exits_1_with_the_frame_saved(tmp_path):
    blank = tmp_path / "wall"
    blank.mkdir()
    for i in range(3):
        cv2.imwrite(str(blank / f"{i}.jpg"), np.full((480, 640, 3), 90, np.uint8))
    rc, said = look(blank, tmp_path / "look.jpg")
    assert rc == 1
    assert any(line.startswith("reading: no reading (0 digits, expected 4) on the last frame; 0 accepted, 3 held")
               for line in said), said
    assert "hint: no digits found: is the display in view, lit and in focus? Look at the saved frame" in said
    assert cv2.imread(str(tmp_path / "look.jpg")).shape == (480, 640, 3)


@pytest.mark.parametrize("out, message", [
    ("look.txt", "--out"),
    ("missing/look.png", "segread: error: cannot write"),
])
def test_an_output_it_cannot_write_is_one_line(workout, tmp_path, out, message):
    rc, said = look(workout, tmp_path / out)
    assert rc == 2 and any(message in line for line in said) and not any("Traceback" in line for line in said), said


def test_a_camera_is_looked_at_for_the_seconds_asked_not_ten_frames(workout, tmp_path):
    jpeg = (workout / "0.jpg").read_bytes()

    class Stream(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                     % (len(jpeg), jpeg))
                    time.sleep(0.05)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    with serving(Stream) as base:
        rc, said = look(f"{base}/video", tmp_path / "look.jpg", "--seconds", "3")
    assert rc == 0, said
    frames = int(re.search(r"(\d+) frame\(s\) of 1280x720 in ([\d.]+) s", "\n".join(said)).group(1))
    assert frames > 10, said


def test_a_read_that_finds_no_digits_in_most_frames_points_at_look(workout, tmp_path):
    blank = tmp_path / "wall"
    blank.mkdir()
    for i in range(12):
        cv2.imwrite(str(blank / f"{i}.jpg"), np.full((480, 640, 3), 90 + i, np.uint8))
    said = {}
    for name, folder in (("wall", blank), ("display", workout)):
        done = subprocess.run(segread_cmd("read", folder, "--device", "cpu", "--no-dedup", "--no-queue", "--db", tmp_path / "s.db"),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        said[name] = done.stderr.splitlines()
    assert said["wall"][-1] == f"segread: hint: no digits found in 12 of 12 frames read; `segread look {blank}` shows what the camera sees"
    assert not any("hint" in line for line in said["display"])


def test_one_photo_is_judged_on_its_own(workout, tmp_path):
    # No later frame can confirm a single photo's reading; it was held for one, and look said 1.
    rc, said = look(workout / "0.jpg", tmp_path / "look.png")
    assert rc == 0 and "reading: 07:50 accepted on the last frame; 1 accepted, 0 held" in said, said


def test_a_frame_it_cannot_save_comes_after_the_report_not_instead_of_it(workout, tmp_path):
    rc, said = look(workout, tmp_path / "missing" / "look.png")
    assert rc == 2 and any(line.startswith("reading: 07:5") for line in said)
    assert said[-1].startswith("segread: error: cannot write") and not (tmp_path / "missing").exists()


def test_a_camera_that_sends_no_image_is_looked_at_for_the_seconds_asked(tmp_path):
    # Each answer typed image/jpeg but no JPEG: the look waited for the outage's own give-up past --seconds.
    class Junk(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"not a jpeg")

        def log_message(self, *args):
            pass

    with serving(Junk) as base:
        rc, said = look(f"{base}/capture", tmp_path / "look.png", "--seconds", "2")
    # before, it ended on the outage's own give-up: "... out for 5 s, giving up"
    assert rc == 2 and re.match(r"segread: error: .* gave no frame in [23] s$", said[-1]), said
