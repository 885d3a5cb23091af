"""Frames of another size among a session's (a camera back at another resolution, a stream that
switched size, a glitch): each is read on its own, the odd ones held, and the session goes on."""

import itertools
import json

import cv2
import pytest
import sqlite_utils

from edge.capture import FolderSource, Frame
from edge.models import DEFAULT_MODELS_DIR, resolve_model
from edge.score import load_truth, read_frames, score_results
from tests.conftest import RUN3_CSV

pytestmark = pytest.mark.skipif(not (DEFAULT_MODELS_DIR / "current").is_file(), reason="no shipped model in models/current")

# (h, w): a strip, a small square, a thumbnail, one pixel, and slivers that round to no pixel at the find sizes
ODD = [(40, 640), (200, 200), (64, 64), (1, 1), (5000, 10), (10, 5000)]


@pytest.fixture(scope="module")
def detector():
    from edge.detect import OnnxDetector

    return OnnxDetector(resolve_model(), device="cpu")


def first_frames(run3, n: int) -> list[Frame]:
    return list(itertools.islice(FolderSource(run3), n))


def squashed(frame: Frame, h: int, w: int, name: str, t: float) -> Frame:
    return Frame(cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_AREA), name, frame.index, t)


def test_odd_sized_frames_among_a_session_are_held_and_the_frames_after_them_read_as_before(run3, detector):
    from edge.pipeline import Reader

    frames = first_frames(run3, 10)
    odd = [squashed(f, h, w, f"odd {h}x{w}", f.t + 0.5) for f, (h, w) in zip(frames[4:], ODD)]
    mixed = frames[:4] + [x for pair in zip(frames[4:], odd) for x in pair]
    records = read_frames(Reader(detector, "time"), mixed)  # the read loop: no exception escapes it

    assert [r["frame"] for r in records] == [f.name for f in mixed]
    assert all(r["status"] == "held" and r["reading"] is None for r in records if r["frame"].startswith("odd"))
    read = [(r["frame"], r["status"], r["reading"]) for r in records if not r["frame"].startswith("odd")]
    as_before = read_frames(Reader(detector, "time"), frames)
    assert read == [(r["frame"], r["status"], r["reading"]) for r in as_before]
    score = score_results([r for r in records if not r["frame"].startswith("odd")], load_truth(RUN3_CSV))
    assert (score.total, score.right) == (10, 10), score.as_dict()


def test_a_camera_back_at_another_resolution_is_found_again_and_read(run3, detector):
    from edge.pipeline import Reader

    frames = first_frames(run3, 10)
    # From frame 5 on the camera delivers 640x360: the display's crop on the 1280x720 frames
    # would fall on the lower right of the new frame, or outside it.
    switched = frames[:5] + [squashed(f, 360, 640, f.name, f.t) for f in frames[5:]]
    score = score_results(read_frames(Reader(detector, "time"), switched), load_truth(RUN3_CSV))
    assert (score.total, score.right) == (10, 10), score.as_dict()


def test_segread_read_goes_on_past_odd_frames_in_a_folder_and_the_session_ends_with_the_source(run3, tmp_path):
    from edge.cli import main

    folder = tmp_path / "frames"
    folder.mkdir()
    frames = first_frames(run3, 7)
    for f in frames:
        cv2.imwrite(str(folder / f"{f.index}.jpg"), f.image)
    for f, (h, w) in zip(frames[2:], ODD):  # "2a.png" sorts between 2.jpg and 3.jpg
        cv2.imwrite(str(folder / f"{f.index}a.png"), squashed(f, h, w, "", 0.0).image)
    out, db = tmp_path / "out.jsonl", tmp_path / "s.db"
    # With the dedup gate on (the default): a frame of another size is read, not compared with the
    # region tracked on the frames before it.
    assert main(["read", str(folder), "--db", str(db), "--jsonl", str(out), "--no-queue", "--device", "cpu"]) == 0

    records = {r["frame"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(records) == 7 + 5
    assert all(records[f"{i}a.png"]["status"] == "held" for i in range(2, 7))
    score = score_results([records[f"{f.index}.jpg"] for f in frames], load_truth(RUN3_CSV))
    assert (score.total, score.right) == (7, 7), score.as_dict()
    (session,) = sqlite_utils.Database(db).query("select status, end_reason from sessions")
    assert session == {"status": "closed", "end_reason": "source ended"}


@pytest.mark.parametrize("h, w", [(10, 5000), (5000, 10), (1, 1)])
def test_a_single_image_of_an_extreme_shape_is_held_not_a_crash(run3, tmp_path, h, w):
    from edge.cli import main

    image = tmp_path / "odd.png"
    cv2.imwrite(str(image), cv2.resize(cv2.imread(str(run3 / "5.jpg")), (w, h), interpolation=cv2.INTER_AREA))
    out = tmp_path / "one.jsonl"
    assert main(["read", str(image), "--db", str(tmp_path / "s.db"), "--jsonl", str(out), "--no-queue",
                 "--device", "cpu"]) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (record["frame"], record["status"], record["reading"]) == ("odd.png", "held", None)
