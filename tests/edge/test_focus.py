"""A camera out of focus: its readings are held as blurred, not logged as guesses. Real frames (run3,
blurred as a lens would, with sensor noise, with a lamp's glare over it), the shipped model,
`segread read` and `segread look` as processes."""

import json
import subprocess

import cv2
import numpy as np
import pytest

from edge.detect import OnnxDetector
from edge.focus import BLURRED, SOFT, blur_share
from edge.models import DEFAULT_MODELS_DIR, resolve_model
from edge.pipeline import Reader
from edge.score import load_truth
from edge.track import stretch_narrow
from tests.conftest import RUN3_CSV, bench_module, segread_cmd

pytestmark = pytest.mark.skipif(not (DEFAULT_MODELS_DIR / "current").is_file(), reason="no shipped model")
FRAMES = 40  # run3's first 40 frames: 95:xx, whose 9 a blurred camera reads as a 5


def changed(run3, out, change, frames=range(FRAMES)):
    """run3's first FRAMES frames written to `out` as PNG, `change(image)` applied to those in `frames`."""
    out.mkdir(parents=True)
    for i in range(FRAMES):
        image = cv2.imread(str(run3 / f"{i}.jpg"))
        cv2.imwrite(str(out / f"{i}.png"), change(image) if i in frames else image)
    return out


def blur(sigma):
    return lambda image: cv2.GaussianBlur(image, (0, 0), sigma)


def read(folder, tmp_path, *args) -> tuple[list[dict], list[str]]:
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "out.jsonl"
    done = subprocess.run(segread_cmd("read", folder, "--device", "cpu", "--no-dedup", "--no-queue",
                                      "--db", tmp_path / "s.db", "--jsonl", out, *args),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in out.read_text().splitlines()], done.stderr.splitlines()


def first_frame(run3):
    """run3's first frame and the shipped model's digit boxes on it."""
    image = cv2.imread(str(run3 / "0.jpg"))
    reader = Reader(OnnxDetector(resolve_model(DEFAULT_MODELS_DIR / "current"), device="cpu"), "time")
    return image, reader.read_image(image)[0].digits.xyxy


def wrong(records) -> list[dict]:
    truth = load_truth(RUN3_CSV)
    return [r for r in records if r["status"] == "accepted" and r["reading"] not in truth[r["frame"].split(".")[0]]]


def test_blur_is_measured_from_the_edges_glare_and_small_digits_aside(run3):
    image, digits = first_frame(run3)
    sharp = blur_share(image, digits)
    shares = [blur_share(blur(s)(image), digits) for s in (2, 3, 4, 5, 6)]
    assert sharp < shares[0] < shares[1] < shares[2] < shares[3] < shares[4]
    assert sharp < SOFT / 2 and shares[0] < SOFT and shares[3] >= BLURRED  # 2 px reads 196 of 200 right, 5 px 31
    perturb = bench_module("perturb")
    box = tuple(int(v) for v in (*(digits[:, :2].min(axis=0) - 64), *(digits[:, 2:].max(axis=0) + 64)))
    lamp = perturb.glare(image.copy(), box, 0.6)  # a soft reflection over the display: light, not blur
    assert blur_share(lamp, digits) < SOFT / 2
    rng = np.random.default_rng(0)  # a dim room, the gain up: speckle among the steepest pixels
    noisy = lambda img: np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)  # noqa: E731
    assert blur_share(noisy(image), digits) < SOFT * 0.6 and blur_share(noisy(blur(6)(image)), digits) >= BLURRED
    # A dim room: the reader stretches a third of the light, and the noise with it (perturb's "night").
    night = lambda img: perturb.noisy(img, 8.0, light=0.3, per_frame=True)  # noqa: E731
    dim, dim_blurred = (stretch_narrow(night(img)) for img in (image, blur(5)(image)))
    assert blur_share(dim, digits) < SOFT and blur_share(dim_blurred, digits) >= BLURRED  # 5 px: 1 right, 7 wrong read on
    small = cv2.resize(image, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    assert blur_share(small, digits * 0.3) is None  # under 24 px its pixels alone blur it


def test_a_camera_at_the_line_does_not_flap_between_holding_and_reading(run3):
    from edge.focus import FocusWatch, RELEASE

    image, digits = first_frame(run3)
    near = blur(3.5)(image)  # just under the line, within RELEASE of it
    assert BLURRED - RELEASE <= blur_share(near, digits) < BLURRED
    watch, said = FocusWatch(window=1), []
    for shown in (image, near, blur(6)(image), near, near, blur(3)(image)):
        watch.add(shown, digits)
        said.append(watch.blurred)
    assert said == [False, False, True, True, True, False]  # held from the line, taken again only under the band


def test_in_a_dim_noisy_picture_the_hold_asks_for_light_as_well_as_focus(run3):
    # Smoothed with its noise, a lamp's hard-edged reflection in a dim room measures as soft as a
    # blurred display (0.17 against 0.18 over run3): the reason may not blame the focus alone.
    from edge.focus import FocusWatch

    image, digits = first_frame(run3)
    perturb = bench_module("perturb")
    night = lambda img: stretch_narrow(perturb.noisy(img, 8.0, light=0.3, per_frame=True))  # noqa: E731
    dim, daylight = FocusWatch(window=1), FocusWatch(window=1)
    dim.add(night(blur(5)(image)), digits)
    daylight.add(blur(5)(image), digits)
    assert dim.blurred and dim.noisy and "dim, noisy picture" in dim.reason() and "light the display" in dim.reason()
    assert daylight.blurred and not daylight.noisy and daylight.reason().startswith("blurred: the display is out of focus")


def test_an_out_of_focus_camera_is_held_as_blurred_and_told_not_read_wrong(run3, tmp_path):
    folder = changed(run3, tmp_path / "soft", blur(5))
    records, said = read(folder, tmp_path / "held")
    assert len(records) == FRAMES and all(r["status"] == "held" for r in records)
    assert all(r["reason"].startswith("blurred: the display is out of focus") for r in records[8:]), records
    assert any("frames held as blurred: focus the camera" in line for line in said), said
    assert any(line.endswith("out of focus: holding") for line in said), said  # the live line says why
    # What the hold keeps out: read on regardless, the blurred 95:xx is taken as 55:xx.
    records, said = read(folder, tmp_path / "regardless", "--blur-hold", "0")
    assert len(wrong(records)) >= 10 and not any("blurred" in line for line in said)


def test_look_tells_an_out_of_focus_camera_to_focus_and_blames_no_lamp_elsewhere(run3, tmp_path):
    # run3 shows a bright object far from the display; blurred, nothing is accepted, yet the display
    # is read whole where it is, so that patch is not named as glare over it.
    folder = changed(run3, tmp_path / "soft", blur(5))
    done = subprocess.run(segread_cmd("look", folder, "--device", "cpu", "--out", tmp_path / "look.png"),
                          capture_output=True, text=True, timeout=300)
    hints = [line for line in done.stderr.splitlines() if line.startswith("hint:")]
    assert done.returncode == 1 and "held most for: blurred: the display is out of focus" in done.stderr, done.stderr
    assert any(h.startswith("hint: the digits are blurred (their edges 2") and "the reader holds what it reads" in h
               for h in hints), hints
    assert not any("glare" in h for h in hints), hints


def test_look_asks_for_light_first_where_the_picture_is_too_noisy_to_blame_the_focus(run3, tmp_path):
    perturb = bench_module("perturb")
    folder = changed(run3, tmp_path / "dim", lambda img: perturb.noisy(blur(5)(img), 8.0, light=0.3, per_frame=True))
    done = subprocess.run(segread_cmd("look", folder, "--device", "cpu", "--out", tmp_path / "look.png"),
                          capture_output=True, text=True, timeout=300)
    hints = [line for line in done.stderr.splitlines() if line.startswith("hint:")]
    assert any(h.startswith("hint: the digits are blurred") and "light the display first" in h for h in hints), hints
    assert "held most for: blurred: the display's edges are soft in a dim, noisy picture" in done.stderr, done.stderr
    records, said = read(folder, tmp_path / "read")  # `segread read`'s closing hint asks for light as well
    assert any("frames held as blurred: light the display" in line for line in said), said


def test_a_camera_focused_again_reads_its_first_reading_afresh(run3, tmp_path):
    # Sharp, out of focus for 15 frames, sharp again: what it reads then is not judged against
    # where the display was before (a mid-update frame was taken at once as 96:10, 8 s behind).
    records, _ = read(changed(run3, tmp_path / "refocused", blur(5), frames=range(10, 25)), tmp_path)
    assert not wrong(records), wrong(records)
    after = next(r for r in records[25:] if r["status"] == "accepted")
    assert "confirmed" in after["flags"], after  # held until the next frame followed it, then taken
    assert sum(r["status"] == "accepted" for r in records[25:]) >= 15 - 5, records[25:]  # less the window's turning


def test_a_camera_brought_into_focus_reads_again_within_a_few_frames(run3, tmp_path):
    records, _ = read(changed(run3, tmp_path / "focusing", blur(5), frames=range(12)), tmp_path)
    status = [r["status"] for r in records]
    assert status[:12] == ["held"] * 12
    assert status[20:].count("accepted") >= len(status[20:]) - 1 and not wrong(records), records


def test_the_command_line_and_the_service_hold_where_the_reader_does():
    from edge.cli import BLUR_HOLD
    from edge.service.config import ReaderConfig

    assert BLUR_HOLD == BLURRED == ReaderConfig().blur_hold
