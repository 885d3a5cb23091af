import csv

import cv2
import numpy as np
import pytest

from edge.labels import CLASS_NAMES, read_label_file
from edge.synth import SyntheticWorkout, previous_text, render_display, render_scene, write_workout_folder, write_yolo_set

SMALL = (480, 270)
CLEAN = {"noise": 0.0, "blur": 0.0, "jpeg": 0, "glare": 0.0, "motion": 0.0, "contrast": 0.7, "exposure": 1.0}


def rng(seed):
    return np.random.default_rng(seed)


def test_same_seed_gives_the_same_image_and_another_seed_does_not():
    a = render_scene("0753", rng(4), SMALL)
    b = render_scene("0753", rng(4), SMALL)
    c = render_scene("0753", rng(5), SMALL)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert a.display_xyxy == b.display_xyxy
    assert not np.array_equal(a.image, c.image)
    assert np.array_equal(render_display("42", rng(1)).image, render_display("42", rng(1)).image)


@pytest.mark.parametrize("seed", range(4))
def test_scene_boxes_lie_inside_the_image_left_to_right_within_the_display(seed):
    frame = render_scene("1789", rng(seed), SMALL)
    h, w = frame.image.shape[:2]
    assert frame.image.dtype == np.uint8 and frame.image.shape == (SMALL[1], SMALL[0], 3)
    assert frame.text == "1789" and frame.boxes.shape == (4, 4) and frame.boxes.dtype == np.float32
    x1, y1, x2, y2 = frame.boxes.T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= w).all() and (y2 <= h).all()
    assert (x2 > x1).all() and (y2 > y1).all()
    assert (np.diff((x1 + x2) / 2) > 0).all()
    dx1, dy1, dx2, dy2 = frame.display_xyxy
    centres = frame.boxes.reshape(4, 2, 2).mean(1)
    assert ((centres[:, 0] > dx1) & (centres[:, 0] < dx2) & (centres[:, 1] > dy1) & (centres[:, 1] < dy2)).all()
    assert 0.08 < (dx2 - dx1) / w < 0.3  # the LCD is a small part of the frame


def test_display_text_boxes_and_blank_positions():
    frame = render_display("0753", rng(0))
    assert frame.text == "0753" and len(frame.boxes) == 4
    assert frame.display_xyxy == (0.0, 0.0, float(frame.image.shape[1]), frame.image.shape[0])
    blank = render_display("  78", rng(0))
    assert blank.text == "78" and len(blank.boxes) == 2
    with pytest.raises(ValueError):
        render_display("07:53", rng(0))
    with pytest.raises(ValueError):
        render_display("0753", rng(0), ghost="075")


def test_a_one_is_boxed_narrow_around_its_lit_segments():
    frame = render_display("1818", rng(3), style=CLEAN)
    widths = frame.boxes[:, 2] - frame.boxes[:, 0]
    assert widths[0] < 0.7 * widths[1] and widths[2] < 0.7 * widths[3]
    grey = cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY).astype(float)
    inside = np.zeros(grey.shape, bool)
    for x1, y1, x2, y2 in frame.boxes.astype(int):
        inside[y1:y2, x1:x2] = True
    assert grey[inside].mean() < grey[~inside].mean() - 10  # the digits are the dark part


def test_a_ghost_changes_the_image_not_the_truth():
    style = dict(CLEAN, ghost_level=0.4)
    plain = render_display("0425", rng(2), style=style)
    ghost = render_display("0425", rng(2), ghost="0424", style=style)
    assert ghost.text == plain.text and np.array_equal(ghost.boxes, plain.boxes)
    assert np.abs(ghost.image.astype(int) - plain.image.astype(int)).max() > 10


def test_uneven_segments_stay_darker_than_unlit_ones():
    even = render_display("8888", rng(6), style=dict(CLEAN, seg_var=0.0, off_level=0.1))
    uneven = render_display("8888", rng(6), style=dict(CLEAN, seg_var=0.45, off_level=0.1))
    grey_even = cv2.cvtColor(even.image, cv2.COLOR_BGR2GRAY).astype(float)
    grey = cv2.cvtColor(uneven.image, cv2.COLOR_BGR2GRAY).astype(float)
    lit = grey_even < np.percentile(grey_even, 30)  # every segment of an 8 is lit
    assert grey[lit].mean() > grey_even[lit].mean() + 3  # some segments are fainter
    assert np.percentile(grey[lit], 90) < np.median(grey[~lit]) - 10  # yet all darker than the panel


def test_previous_text_is_one_second_or_one_count_earlier():
    assert previous_text("9640") == "9639"
    assert previous_text("0100") == "0059"
    assert previous_text("0000") == "9959"
    assert previous_text("9999") == "9998" and previous_text("000") == "999"
    assert previous_text(" 12") is None


def seconds_of(reading):
    return int(reading[:2]) * 60 + int(reading[2:])


def test_workout_time_advances_one_second_per_second():
    workout = SyntheticWorkout(seconds=60, fps=2.0, start="12:34", seed=1)
    rows = workout.truth_rows()
    assert len(workout) == 120 == len(rows)
    assert [r["frame"] for r in rows] == list(range(120)) and {r["mode"] for r in rows} == {"time"}
    steps = np.diff([seconds_of(r["reading"]) for r in rows])
    assert set(steps) <= {0, 1} and 59 <= steps.sum() <= 60
    assert seconds_of(rows[0]["reading"]) - seconds_of("12:34".replace(":", "")) in (0, 1)


def test_workout_rolls_over_to_zero():
    readings = [r["reading"] for r in SyntheticWorkout(seconds=70, fps=1.0, start="98:59").truth_rows()]
    assert readings.index("9859") < readings.index("9959") < readings.index("0000")
    assert readings[readings.index("0000") - 1] == "9959"
    sunny = [r["reading"] for r in SyntheticWorkout(seconds=5, fps=1.0, start="98:58", wrap_minutes=99).truth_rows()]
    assert sunny[sunny.index("9859") + 1] == "0000"
    held = [r["reading"] for r in SyntheticWorkout(seconds=5, fps=1.0, start="99:58", rollover=False).truth_rows()]
    assert held[-1] == "9959"


def test_workout_ghost_frames_name_the_previous_reading():
    workout = SyntheticWorkout(seconds=240, fps=2.0, seed=3)
    ghosts = [r for r in workout.truth_rows() if r["alt"]]
    assert 0.04 < len(ghosts) / len(workout) < 0.18
    for row in ghosts:
        assert seconds_of(row["reading"]) - seconds_of(row["alt"]) == 1


def test_workout_frames_show_the_truth_and_the_camera_drifts_slowly():
    workout = SyntheticWorkout(seconds=30, fps=1.0, start="05:00", seed=2, size=SMALL)
    rows = workout.truth_rows()
    frames = [workout.frame(i) for i in (0, 15, 29)]
    assert [f.text for f in frames] == [rows[i]["reading"] for i in (0, 15, 29)]
    assert np.array_equal(workout.frame(15).image, frames[1].image)
    lefts = [f.display_xyxy[0] for f in frames]
    assert max(lefts) - min(lefts) < 0.1 * SMALL[0]
    assert len(list(SyntheticWorkout(seconds=1, fps=2.0, size=SMALL))) == 2


def test_write_workout_folder_csv_matches_frames(tmp_path):
    out = tmp_path / "synth_run"
    csv_path = write_workout_folder(out, seconds=3, fps=2.0, start="99:59", seed=5, size=SMALL)
    assert csv_path == tmp_path / "synth_run.csv"
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["frame", "reading", "alt", "mode", "note"]
        rows = list(reader)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.jpg" for i in range(6))
    expected = SyntheticWorkout(seconds=3, fps=2.0, start="99:59", seed=5, size=SMALL).truth_rows()
    assert [(r["frame"], r["reading"], r["alt"]) for r in rows] == [
        (str(e["frame"]), e["reading"], e["alt"]) for e in expected
    ]
    assert cv2.imread(str(out / "0.jpg")).shape == (SMALL[1], SMALL[0], 3)


def test_a_labeled_set_is_the_same_rendered_by_one_process_or_several(tmp_path):
    write_yolo_set(tmp_path / "one", 6, seed=9, workers=1)
    write_yolo_set(tmp_path / "two", 6, seed=9, workers=2)
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*") if p.is_file())
    assert one == two and len(one) == 13  # 6 images, 6 label files, classes.txt
    assert all((tmp_path / "one" / p).read_bytes() == (tmp_path / "two" / p).read_bytes() for p in one)


@pytest.mark.parametrize("kind", ["crop", "scene"])
def test_write_yolo_set_labels_follow_the_class_mapping(tmp_path, kind):
    n = write_yolo_set(tmp_path, 6, seed=7, kind=kind)
    images = sorted((tmp_path / "images").glob("*.jpg"))
    assert n == 6 == len(images)
    assert (tmp_path / "classes.txt").read_text().split() == list(CLASS_NAMES)
    ones, others = [], []
    for image in images:
        labels = read_label_file(tmp_path / "labels" / f"{image.stem}.txt")
        h, w = cv2.imread(str(image)).shape[:2]
        assert 1 <= len(labels) <= 4
        heights = [b.h * h for b in labels]
        for box in labels:
            (ones if box.digit == "1" else others).append(box.w * w / np.mean(heights))
    if kind == "crop":
        assert min(h, w) < 400  # a crop around the LCD, not a whole frame
    assert ones, "seed 7 draws at least one '1'; a narrow box must map to class 0"
    assert max(ones) < min(others)


def test_unknown_kind_or_style_key_is_refused(tmp_path):
    with pytest.raises(ValueError):
        write_yolo_set(tmp_path, 1, kind="tiles")
    with pytest.raises(ValueError):
        render_display("12", rng(0), style={"colour": 1})
