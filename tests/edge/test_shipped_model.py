"""The shipped model (models/current) through the reader: the demo and the real session run3.

run3 is the reader's test on frames no model was trained on; its truth CSV scores the reading.
"""

import json
import subprocess
import sys

import pytest

from edge.models import DEFAULT_MODELS_DIR, read_card, resolve_model
from edge.score import load_truth, read_frames, score_results

CURRENT = DEFAULT_MODELS_DIR / "current"
pytestmark = pytest.mark.skipif(not CURRENT.is_file(), reason="no shipped model in models/current yet")


def test_shipped_model_card_says_how_where_and_on_what_it_was_trained():
    card = read_card(resolve_model())
    assert card["device"] and card["training"]["imgsz"] and card["data"]["fingerprint"]
    assert card["decision"]["promoted"]
    # run3 is never training data: only the review-loop benchmark may use its labels.
    assert not any("run3" in folder for folder in card["data"]["folders"] + card["data"]["corrections"])


def test_demo_reads_the_synthetic_workout(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--seconds", "40", "--device", "cpu", "--jsonl", str(tmp_path / "d.jsonl")],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 40
    assert summary["exact"] >= 38 and summary["wrong_accepted"] == 0
    assert summary["sessions"] == 1  # 98:05 -> 98:45: one session


@pytest.mark.parametrize("args, message", [
    (["--start", "98:60"], "Invalid value for --start: start must be MM:SS within 00:00-99:59"),
    (["--seed", "-5"], "Invalid value for '--seed'"),
    (["--seconds", "3", "--fps", "0.1"], "3 s at 0.1 frames a second is no frame"),
    (["--jsonl", "."], "segread: error: cannot write .: Is a directory"),
])
def test_demo_options_it_cannot_use_are_one_message_not_a_traceback(args, message, capsys):
    from edge.cli import main

    assert main(["demo", "--device", "cpu", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_single_photo_is_read_on_its_own(run3, tmp_path, capsys):
    # One image has no later frame to confirm its reading: it is accepted on its own confidence,
    # named after its file, and logged; a folder holding the same frame alone waits and is held.
    from edge.cli import main

    assert main(["read", str(run3 / "0.jpg"), "--db", str(tmp_path / "s.db"), "--jsonl", str(tmp_path / "one.jsonl"),
                 "--no-queue", "--device", "cpu"]) == 0
    (record,) = [json.loads(line) for line in (tmp_path / "one.jsonl").read_text().splitlines()]
    assert (record["frame"], record["status"], record["reading"]) == ("0.jpg", "accepted", "9524")
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "0.jpg").write_bytes((run3 / "0.jpg").read_bytes())
    assert main(["read", str(tmp_path / "alone"), "--db", str(tmp_path / "s.db"), "--jsonl", str(tmp_path / "f.jsonl"),
                 "--no-queue", "--device", "cpu"]) == 0
    (record,) = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert record["status"] == "held" and "could not be checked" in record["reason"]


def read_in_a_process(source, tmp_path) -> list[dict]:
    """`segread read SOURCE` with the shipped model on the CPU, every frame, in a process of its
    own: its JSONL records."""
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "read", str(source), "--no-dedup", "--device", "cpu", "--no-queue",
         "--db", str(tmp_path / "r.db"), "--jsonl", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_run3_is_read_with_almost_no_wrong_reading(run3, tmp_path):
    records = read_in_a_process(run3, tmp_path)
    score = score_results(records, load_truth(run3.with_suffix(".csv")))
    assert score.total == 200
    assert score.wrong_accepted <= 1 and score.right >= 195, score.as_dict()  # measured: 197, 0
    assert not any("smoothed" in r["flags"] for r in records)  # its clean crops are read as they are
    assert not any("stretched" in r["flags"] for r in records)  # and its frames, spanning the grey range, too


@pytest.mark.parametrize("kept, at_least", [
    (range(0, 200, 3), 63),  # every third frame, 4.5 s apart: 66 of 67 right, none wrong (20 before)
    # 3 of every 10 left out: 136 of 140, 2 wrong (117 before the first frame after each gap was
    # revised once the next followed it; 57, 9 before the pace was followed)
    ([i for i in range(200) if i % 10 < 7], 130),
    # every sixth frame, 9 s apart: beyond the window from the first frame; 32 of 34 right, none
    # wrong (0 before the first three readings' steady pace was taken for the session's)
    (range(0, 200, 6), 29),
], ids=["every third frame", "frames left out", "every sixth frame"])
def test_a_folder_of_frames_further_apart_than_guessed_is_read_at_its_own_pace(run3, tmp_path, kept, at_least):
    # `segread read FOLDER` stamps the frames 1 s apart; run3's are 1.5 s apart, and these further.
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in kept:
        (folder / f"{i}.jpg").symlink_to(run3 / f"{i}.jpg")
    score = score_results(read_in_a_process(folder, tmp_path), load_truth(run3.with_suffix(".csv")))
    assert score.total == len(kept)
    assert score.right >= at_least and score.wrong_accepted <= 2, score.as_dict()


def test_a_time_lapse_video_of_a_session_is_read_like_its_frames(run3, tmp_path):
    import cv2

    # run3's first 100 frames (1.5 s apart) as a video of 10 frames a second: its frame times are
    # the video's, 15 seconds of the display to each of them.
    video = tmp_path / "run3.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (1280, 720))
    if not writer.isOpened():
        pytest.skip("this OpenCV build writes no mp4v video")
    for i in range(100):
        writer.write(cv2.imread(str(run3 / f"{i}.jpg")))
    writer.release()
    # A video's frames are named by their index, as run3's files are.
    score = score_results(read_in_a_process(video, tmp_path), load_truth(run3.with_suffix(".csv")))
    # Measured: 98 of 100 right, none wrong (70 / 0 before the pace was learned past 5 a second).
    assert score.total == 100 and score.right >= 95 and score.wrong_accepted == 0, score.as_dict()


def test_reading_the_crop_levelled_as_well_reads_frames_under_glare(run3):
    from edge.capture import FolderSource, Frame
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from tests.conftest import bench_module

    # The perturbation bench's glare: a soft bright patch over the right half of run3's display.
    perturb = bench_module("perturb")
    detector = OnnxDetector(resolve_model(), device="cpu")
    frames = list(FolderSource(run3))
    box = perturb.display_box(resolve_model(), frames[0].image)
    glared = [Frame(perturb.glare(f.image, box, 0.3), f.name, f.index, f.t) for f in frames]
    truth = load_truth(run3.with_suffix(".csv"))

    def score(images, level):
        # Without the vote's decoding, which reads some of what levelling fixes (a faded leading 9).
        reader = Reader(detector, "time", level=level, second_look=level, vote_decode=False)
        return score_results(read_frames(reader, images), truth)

    before, after = score(glared, False), score(glared, True)
    # Measured with the shipped 165843 (trained with --degrade): 175 right and 1 wrong-accepted with
    # the crop read only as it is, 197 and 0 levelled as well (the model before it, 130656: 7 / 20
    # and 173 / 2).
    assert after.right >= max(190, before.right + 15) and after.wrong_accepted <= before.wrong_accepted, (
        before.as_dict(), after.as_dict())


def test_glare_over_the_minutes_never_sets_the_track_behind_the_display(run3):
    from edge.capture import FolderSource, Frame
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from tests.conftest import bench_module

    # The perturbation bench's hard-edged glare over the minutes: its edge crosses the seconds'
    # tens, and the seconds digit is often read low. A low reading taken four frames after the
    # same time (97:21 for 97:27) set the track 6 s behind; the true frames were then held as too
    # far ahead and the ones read low were taken.
    perturb = bench_module("perturb")
    frames = list(FolderSource(run3))
    box = perturb.display_box(resolve_model(), frames[0].image)
    change = perturb.CONDITIONS["glare 0.6 minutes hard edge"]
    glared = [Frame(change(f.image, box), f.name, f.index, f.t) for f in frames]
    reader = Reader(OnnxDetector(resolve_model(), device="cpu"), "time")
    score = score_results(read_frames(reader, glared), load_truth(run3.with_suffix(".csv")))
    # Measured with the shipped 165843: 123 right and 11 wrong-accepted (117 and 18 before a
    # reading short of the clock was held).
    assert score.right >= 115 and score.wrong_accepted <= 13, score.as_dict()


def test_a_dim_room_with_the_gain_up_is_read_with_the_crop_smoothed(run3):
    from edge.capture import FolderSource, Frame
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from tests.conftest import bench_module

    # run3 at 0.3 of the light with sensor noise of sigma 4 (the perturbation bench's `noisy`); its
    # first 60 frames, read in order with the session.
    perturb = bench_module("perturb")
    detector = OnnxDetector(resolve_model(), device="cpu")
    dim = [Frame(perturb.noisy(f.image, 4.0, light=0.3), f.name, f.index, f.t) for f in list(FolderSource(run3))[:60]]
    truth = load_truth(run3.with_suffix(".csv"))

    def score(denoise):
        # Not stretched (its levels span 70 of 256): the smoothing's own part. Stretched as well,
        # the same frames read 55 / 3 never smoothed and 59 / 0 smoothed.
        reader = Reader(detector, "time", denoise=denoise, stretch=False)
        records = read_frames(reader, dim)
        return score_results(records, truth), records

    (before, _), (after, records) = score(False), score(True)
    assert all("smoothed" in r["flags"] for r in records if r["status"] == "accepted")
    # Measured with the shipped 165843: 48 right, 1 wrong-accepted as it is; 57 and 0 smoothed (39 / 1
    # and 53 / 1 before a frame out of step with the clock was logged accepted once the next followed it).
    assert after.right >= before.right + 8 and after.wrong_accepted <= before.wrong_accepted, (
        before.as_dict(), after.as_dict())


def test_a_washed_out_camera_is_read_with_the_frame_stretched(run3):
    from edge.capture import FolderSource, Frame
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from tests.conftest import bench_module

    # The perturbation bench's heavy haze (run3 x 0.3 + 160: its levels squeezed into 67 of 256);
    # the first 60 frames, read in order with the session.
    perturb = bench_module("perturb")
    detector = OnnxDetector(resolve_model(), device="cpu")
    hazy = [Frame(perturb.CONDITIONS["haze heavy"](f.image, None), f.name, f.index, f.t) for f in list(FolderSource(run3))[:60]]
    truth = load_truth(run3.with_suffix(".csv"))

    def score(stretch):
        records = read_frames(Reader(detector, "time", stretch=stretch), hazy)
        return score_results(records, truth), records

    (before, _), (after, records) = score(False), score(True)
    assert all("stretched" in r["flags"] for r in records if r["status"] == "accepted")
    # Measured with the shipped 165843: none right as it is (the find sees no display), 59 and 0
    # wrong-accepted stretched (over all 200 frames: 1, and 197 / 0).
    assert before.right <= 5 and after.right >= 54 and after.wrong_accepted == 0, (before.as_dict(), after.as_dict())


def test_a_camera_mounted_crooked_is_read_with_the_display_crop_turned_level(run3):
    from edge.capture import FolderSource, Frame
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from tests.conftest import bench_module

    # The perturbation bench's turned camera: run3 turned 15 degrees about its display, whose row
    # then leans 21 degrees (run3's own: 5). The first 60 frames, read in order with the session.
    perturb = bench_module("perturb")
    detector = OnnxDetector(resolve_model(), device="cpu")
    frames = list(FolderSource(run3))[:60]
    box = perturb.display_box(resolve_model(), frames[0].image)
    turned = [Frame(perturb.about_display(f.image, box, degrees=-15.0), f.name, f.index, f.t) for f in frames]
    truth = load_truth(run3.with_suffix(".csv"))

    def score(deskew):
        reader = Reader(detector, "time", deskew=deskew)
        return score_results(read_frames(reader, turned), truth), reader

    (before, _), (after, reader) = score(False), score(True)
    assert reader.tracker.tilted and reader._turn_view() is True  # it chose the turned crop
    assert "turned" in reader.process(turned[-1]).to_json()["flags"]  # and says so
    # Measured with the shipped 165843: 42 right, 0 wrong-accepted read as the camera sees it; 57 and 0 turned.
    assert after.right >= max(54, before.right + 8) and after.wrong_accepted <= before.wrong_accepted, (
        before.as_dict(), after.as_dict())


def test_a_display_the_model_learned_leaning_is_not_read_turned():
    import re

    import cv2

    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from tests.conftest import DIGITS, need
    from trainer.dataset import gather_folder
    from trainer.evaluate import photo_truth
    from trainer.split import side

    # The labeled photos of one display at 19 degrees (screenytake-N, N in time order), val and
    # test only, read in order as a stream of a 4-digit display: the turned crop reads them worse.
    items = [i for i in gather_folder(need(DIGITS)).items
             if "screenytake" in i.image.name and side(i.source) in ("val", "test") and i.boxes]
    seen, frames = set(), []
    for item in sorted(items, key=lambda i: int(re.search(r"take-(\d+)", i.image.name).group(1))):
        truth = photo_truth(item)
        if truth and len(truth) == 4 and item.source not in seen:
            seen.add(item.source)
            frames.append((cv2.imread(str(item.image)), truth))
    assert len(frames) >= 20
    detector = OnnxDetector(resolve_model(), device="cpu")

    def right(deskew):
        reader = Reader(detector, "digits:4", deskew=deskew)
        readings = [reader.read_image(image)[0] for image, _ in frames]
        return sum(r.status == "accepted" and r.text == t for r, (_, t) in zip(readings, frames)), reader

    (before, _), (after, reader) = right(False), right(True)
    assert reader.tracker.tilted and reader._turn_view() is False  # tried both ways, kept the crop as it is
    assert after >= before  # measured with the shipped 165843: 22 of 24 as it is, 23 with the trial


def test_a_monitor_in_scan_mode_logs_one_session_of_the_time(tmp_path):
    # A rendered Sunny-like monitor in SCAN mode (time, stroke count, total count, calories, 6 s
    # each), starting on the stroke count, its camera knocked aside (6% of the frame's width) on
    # frame 40: one session of the time, no other quantity logged, the frames of fewer places read
    # from the tracked crop (not looked for on the whole frame), and the display found again.
    import cv2
    import numpy as np

    from edge.detect import OnnxDetector
    from edge.pipeline import Reader
    from edge.score import read_folder
    from edge.store import SessionLog, list_sessions, open_db
    from tests.conftest import bench_module

    workout = bench_module("scan_mode").ScanningWorkout(120, 1 / 1.5, "10:00", seed=0, slot=6.0, strokes=20)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(len(workout)):
        image = workout.frame(i).image
        if i >= 40:
            h, w = image.shape[:2]
            image = cv2.warpAffine(image, np.float32([[1, 0, 0.06 * w], [0, 1, 0.1 * h]]), (w, h), borderMode=cv2.BORDER_REPLICATE)
        cv2.imwrite(str(folder / f"{i}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    db = open_db(tmp_path / "s.db")
    reader = Reader(OnnxDetector(resolve_model(), device="cpu"), "time")
    log = SessionLog(db, "scan", "shipped", "time")
    records = read_folder(reader, folder, 1.5, log)
    log.close()
    (session,) = list_sessions(db)
    logged = {int(r["frame"].split(".")[0]) for r in db.query("SELECT frame FROM readings WHERE status = 'accepted'")}
    assert logged and all(workout.quantity(i) == "time" for i in logged)
    times = [i for i in range(len(workout)) if workout.quantity(i) == "time"]
    right = [i for i in times if i in logged and records[i]["reading"] in {workout.reading(i), workout.alt(i)}]
    assert len(right) == len(logged) and len(right) >= 0.75 * len(times), (len(right), len(logged), len(times))
    assert len([i for i in right if i >= 40]) >= 0.9 * len([i for i in times if i >= 40])  # found again
    others = len(workout) - len(times)
    # Fewer find passes than frames of another quantity: 38 (the first round's, before the display
    # is known to scan, and the knock's); looked for on every one of them, 119.
    assert reader.tracker.finds < others, (reader.tracker.finds, others)
