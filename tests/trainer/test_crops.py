"""Display crops: the reader's window, labels carried over, cut-off digits dropped."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.labels import LabelBox, write_label_file
from edge.synth_scene import add_glare
from edge.track import crop_box as crop_window
from trainer.crops import (
    boxes_in_window, degraded_style, digit_height_at, label_rows, make_crops, make_degraded, make_distant, reader_crops,
)
from trainer.dataset import gather


def test_window_is_the_union_grown_by_pad_times_its_height():
    boxes = np.array([[100, 50, 120, 90], [130, 50, 150, 90]], np.float32)
    assert crop_window(boxes, 640, 480, 0.5) == (80, 30, 170, 110)
    assert crop_window(boxes, 640, 480, 0.5, (0.25, 0.0)) == (90, 30, 180, 110)
    assert crop_window(boxes, 160, 100, 1.0) == (60, 10, 160, 100)  # clipped to the frame


def test_labels_follow_the_crop_and_cut_off_digits_are_dropped():
    boxes = [LabelBox(0, 0.2, 0.5, 0.1, 0.2), LabelBox(1, 0.5, 0.5, 0.1, 0.2)]  # on a 100x100 frame
    kept = boxes_in_window(boxes, 100, 100, (40, 30, 80, 70))
    assert [b.cls for b in kept] == [1]
    b = kept[0]
    assert np.allclose([b.cx, b.cy, b.w, b.h], [0.25, 0.5, 0.25, 0.5])
    # a digit half outside the window is dropped, not labeled as a half digit
    assert boxes_in_window(boxes, 100, 100, (50, 30, 90, 70)) == []


def test_make_crops_writes_images_and_labels_that_gather_back(tmp_path):
    src = tmp_path / "set"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    image = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(image, (300, 200), (320, 240), (255, 255, 255), -1)
    cv2.imwrite(str(src / "images" / "shot_jpg.rf.abc.jpg"), image)
    write_label_file(src / "labels" / "shot_jpg.rf.abc.txt", [LabelBox.from_xyxy(4, (300, 200, 320, 240), 640, 480)])
    items = gather([src]).items

    crops = make_crops(list(items), tmp_path / "crops", per_image=3, seed=1)

    assert len(crops) == 3 and {c.source for c in crops} == {"shot"}
    again = gather([tmp_path / "crops"])
    assert not again.problems and len(again.items) == 3
    for crop in again.items:
        assert 40 * 1.6 <= crop.height <= 40 * 3.4 + 1
        (box,) = crop.boxes
        x1, y1, x2, y2 = box.to_xyxy(crop.width, crop.height)
        patch = cv2.imread(str(crop.image))[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2]
        assert patch.mean() > 200  # the label still sits on the digit
    assert [c.image.name for c in make_crops(list(items), tmp_path / "again", 3, seed=1)] == [c.image.name for c in crops]


def test_rows_of_a_display_are_found_tallest_first():
    time_row = [[100, 40, 140, 100], [150, 42, 190, 102], [200, 44, 240, 104]]  # 60 px digits, slightly tilted
    small_row = [[100, 150, 125, 185], [130, 150, 155, 185]]  # 35 px digits below
    rows = label_rows(np.array(small_row + time_row, np.float32))
    assert [sorted(r.tolist()) for r in rows] == [[2, 3, 4], [0, 1]]
    assert [r.tolist() for r in label_rows(np.array(time_row, np.float32))] == [[0, 1, 2]]


def _multi_row_set(tmp_path):
    src = tmp_path / "set"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    image = np.full((416, 416, 3), 90, np.uint8)
    top = [(60, 40, 100, 100), (110, 40, 150, 100), (160, 40, 200, 100)]
    bottom = [(60, 250, 85, 285), (95, 250, 120, 285)]
    for x1, y1, x2, y2 in top + bottom:
        cv2.rectangle(image, (x1, y1), (x2, y2), (255, 255, 255), -1)
    cv2.imwrite(str(src / "images" / "panel_jpg.rf.abc.jpg"), image)
    boxes = [LabelBox.from_xyxy(k, box, 416, 416) for k, box in enumerate(top + bottom)]
    write_label_file(src / "labels" / "panel_jpg.rf.abc.txt", boxes)
    return gather([src]).items


def test_a_display_of_several_rows_also_trains_on_a_crop_of_each_row_as_the_reader_reads_one(tmp_path):
    items = _multi_row_set(tmp_path)

    crops = make_crops(list(items), tmp_path / "crops", per_image=2, seed=0, pad_range=(0.6, 0.6), shift=0.0)

    names = sorted(c.image.name.split(".")[-2] for c in crops)
    assert names == ["crop0", "crop1", "row0", "row1"]
    by_name = {c.image.name.split(".")[-2]: c for c in gather([tmp_path / "crops"]).items}
    assert sorted(b.cls for b in by_name["row0"].boxes) == [0, 1, 2]  # the 60 px row, and only it
    assert sorted(b.cls for b in by_name["row1"].boxes) == [3, 4]
    assert by_name["row1"].height < by_name["crop0"].height / 3  # close on the small row: its digits read larger
    # the reader's own crop, the frozen test's, stays the one around the whole display
    assert [c.image.name.split(".")[-2] for c in reader_crops(list(items), tmp_path / "reader")] == ["crop0"]
    assert make_crops(list(items), tmp_path / "none", per_image=0) == []  # --crops 0 asks for none


@pytest.mark.parametrize("flag, rows_trained", [([], ["row0", "row1"]), (["--no-row-crops"], [])])
def test_retrain_trains_on_row_crops_unless_told_not_to(tmp_path, monkeypatch, flag, rows_trained):
    from click.testing import CliRunner

    from tests.conftest import tiny_set
    from trainer import retrain as retrain_module
    from trainer.cli import retrain

    data = tiny_set(tmp_path / "photos", {"train": 2, "val": 1, "test": 1})
    _multi_row_set(tmp_path)  # "panel", a display of two rows, hashes to train
    seen = {}

    def stop_before_training(data_yaml, *args, **kwargs):  # what would train, then Ctrl-C
        seen["crops"] = sorted(p.name for p in (tmp_path / "runs").glob("*/crops/train/images/panel*"))
        raise KeyboardInterrupt

    monkeypatch.setattr(retrain_module, "train", stop_before_training)
    result = CliRunner().invoke(retrain, ["--data", str(data), "--data", str(tmp_path / "set"), "--crops", "1",
                                          "--from", "scratch", "--models-dir", str(tmp_path / "models"),
                                          "--runs-dir", str(tmp_path / "runs"), *flag])
    assert result.exit_code == 130, result.output
    assert [name.split(".")[-2] for name in seen["crops"]] == ["crop0", *rows_trained]


def test_distant_frames_shrink_the_photo_so_its_digits_are_as_small_as_a_far_camera_sees_them(tmp_path):
    src = tmp_path / "set"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    image = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(image, (280, 180), (330, 260), (255, 255, 255), -1)  # one digit 80 px tall
    cv2.imwrite(str(src / "images" / "shot_jpg.rf.abc.jpg"), image)
    write_label_file(src / "labels" / "shot_jpg.rf.abc.txt", [LabelBox.from_xyxy(4, (280, 180, 330, 260), 640, 480)])
    tiny = np.full((75, 75, 3), 90, np.uint8)  # an LCD-only crop: nothing further away to make of it
    cv2.imwrite(str(src / "images" / "lcd.jpg"), tiny)
    write_label_file(src / "labels" / "lcd.txt", [LabelBox(2, 0.5, 0.5, 0.3, 0.6)])
    items = list(gather([src]).items)

    far = make_distant(items, tmp_path / "far", per_image=4, seed=3)

    assert len(far) == 4 and {f.source for f in far} == {"shot"}  # twins of the photo: its split side
    again = gather([tmp_path / "far"])
    assert not again.problems and len(again.items) == 4
    for frame in again.items:
        assert (frame.width, frame.height) == (640, 480)
        assert 16 - 0.5 <= digit_height_at(frame, 640) <= 40 + 0.5
        (box,) = frame.boxes
        x1, y1, x2, y2 = box.to_xyxy(frame.width, frame.height)
        pixels = cv2.imread(str(frame.image))
        assert pixels[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2].mean() > 200  # the label sits on the digit
        outside = pixels.copy()
        outside[max(0, int(y1) - 20) : int(y2) + 20, max(0, int(x1) - 20) : int(x2) + 20] = 90
        assert outside.max() < 200  # the blurred background holds no second, unlabeled digit


def test_degraded_copies_keep_labels_and_source_and_are_the_same_each_run(tmp_path):
    src = tmp_path / "set"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    image = np.full((120, 200, 3), 150, np.uint8)
    cv2.rectangle(image, (80, 30), (120, 90), (20, 20, 20), -1)  # one dark LCD digit
    cv2.imwrite(str(src / "images" / "shot_jpg.rf.abc.crop0.jpg"), image)
    label = LabelBox.from_xyxy(4, (80, 30, 120, 90), 200, 120)
    write_label_file(src / "labels" / "shot_jpg.rf.abc.crop0.txt", [label])
    items = list(gather([src]).items)

    worse = make_degraded(items, tmp_path / "deg", per_image=3, seed=5)

    assert len(worse) == 3 and {w.source for w in worse} == {items[0].source}
    again = gather([tmp_path / "deg"])
    assert not again.problems and all(i.boxes == (label,) for i in again.items)
    for item in worse:
        pixels = cv2.imread(str(item.image)).astype(np.float32)
        assert pixels.shape == image.shape and np.abs(pixels - image).mean() > 2  # visibly not the photo
    repeat = make_degraded(items, tmp_path / "deg2", per_image=3, seed=5)
    assert all(np.array_equal(cv2.imread(str(a.image)), cv2.imread(str(b.image))) for a, b in zip(worse, repeat))


def test_every_degraded_style_has_a_condition_and_all_conditions_occur():
    rng = np.random.default_rng(0)
    styles = [degraded_style(rng, 200, styles="wide") for _ in range(300)]
    assert all(len(s) >= 2 for s in styles)  # noise and at least one more
    assert {"glare", "exposure", "jpeg", "blur", "haze"} <= {k for s in styles for k in s}
    assert min(s["exposure"] for s in styles if "exposure" in s) < 0.3  # as dim as run3's "night"
    # The default, which the frozen test split's degraded view is made with, keeps its first styles.
    narrow = [degraded_style(rng, 200) for _ in range(300)]
    assert not any("haze" in s for s in narrow) and min(s["exposure"] for s in narrow if "exposure" in s) >= 0.4
    assert not any("glare_edge" in s for s in narrow)  # soft glare only


def test_glare_styles_draw_hard_edged_glare_and_leave_the_narrow_draws_as_they_were():
    narrow = [degraded_style(np.random.default_rng(k), 128) for k in range(200)]
    glare = [degraded_style(np.random.default_rng(k), 128, styles="glare") for k in range(200)]
    # The same conditions drawn; only the glare's edge is added.
    assert [{k: v for k, v in g.items() if k != "glare_edge"} for g in glare] == narrow
    edges = [g["glare_edge"] for g in glare if "glare" in g]
    assert len(edges) == sum("glare" in s for s in narrow) and min(edges) < 0.08 and max(edges) > 0.2


def test_a_hard_edged_glare_changes_brightness_over_fewer_pixels_than_a_soft_one():
    def profile(edge: float) -> np.ndarray:
        img = np.zeros((128, 128, 3), np.float32)
        add_glare(img, np.random.default_rng(3), 0.6, 40.0, edge)
        return img[..., 1]
    soft, hard = profile(0.25), profile(0.04)
    ramp = lambda img: int(((img > 0.06) & (img < 0.54)).sum())  # neither dark nor at full glare
    assert hard.max() > 0.55 and ramp(hard) < ramp(soft) / 2


def test_the_focus_style_draws_stronger_blur_and_combines_with_glare_leaving_its_draws_as_they_were():
    # run3 blurred by 6 px read 1 frame right and took 64 wrong readings; the narrow blur is mild.
    narrow = [degraded_style(np.random.default_rng(k), 128) for k in range(300)]
    glare = [degraded_style(np.random.default_rng(k), 128, styles="glare") for k in range(300)]
    both = [degraded_style(np.random.default_rng(k), 128, styles="glare,focus") for k in range(300)]
    assert [{k: v for k, v in b.items() if k != "blur"} for b in both] == [{k: v for k, v in g.items() if k != "blur"} for g in glare]
    assert max(s["blur"] for s in narrow if "blur" in s) <= 1.8 < max(b["blur"] for b in both if "blur" in b)
    assert all(b["blur"] >= n["blur"] for b, n in zip(both, narrow) if "blur" in n)
    with pytest.raises(ValueError, match="each of"):
        degraded_style(np.random.default_rng(0), 128, styles="glare,fog")


def test_retrain_refuses_a_degrade_style_it_does_not_know_in_one_line():
    from click.testing import CliRunner

    from trainer.cli import retrain

    out = CliRunner().invoke(retrain, ["--data", ".", "--degrade-styles", "glare,fog"])
    assert out.exit_code == 2 and "one or more of focus, glare, narrow, wide, joined by commas" in out.output
