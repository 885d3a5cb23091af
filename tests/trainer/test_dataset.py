"""Gathering labeled folders: twins, and every defect reported by file and line, then left out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import DatasetError
from edge.labels import CLASS_NAMES
from trainer.dataset import fingerprint, gather, require_trainable, source_id

GOOD = "0 0.5 0.5 0.2 0.4\n3 0.7 0.5 0.2 0.4\n"


def make_folder(root: Path, files: dict[str, str | None], images: list[str] | None = None) -> Path:
    """A YOLO folder: `files` maps a stem to its label text (None: no label file)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for stem, text in files.items():
        image = np.full((48, 64, 3), 40 + 10 * len(stem), np.uint8)
        cv2.imwrite(str(root / "images" / f"{stem}.jpg"), image)
        if text is not None:
            (root / "labels" / f"{stem}.txt").write_text(text)
    return root


@pytest.mark.parametrize(
    "name, source",
    [
        ("digittake-100-jpg_jpg.rf.53b56204bb1420470a789f1ce414d896.jpg", "digittake-100-jpg"),
        ("digittake-100-jpg_jpg.rf.ebcd3c7eead884c717d2597547fbce6a.jpg", "digittake-100-jpg"),
        ("IMG_1234_png.rf.0a1b.png", "IMG_1234"),
        ("frame_0042.jpg", "frame_0042"),
        ("review/42.jpg", "42"),
    ],
)
def test_twins_share_a_source_id(name, source):
    assert source_id(name) == source


def test_each_defect_is_reported_by_file_and_line_and_left_out(tmp_path):
    folder = make_folder(
        tmp_path / "set",
        {
            "good": GOOD,
            "columns": GOOD + "1 0.5 0.5 0.2\n",
            "klass": "10 0.5 0.5 0.2 0.4\n",
            "coords": GOOD + "\n2 1.5 0.5 0.2 0.4\n2 0.5 0.5 0.2 -0.1\n",
            "words": "a b c d e\n",
            "nolabel": None,
        },
    )
    (folder / "labels" / "my-directory-list.txt").write_text("The file x.txt contains:\n")
    (folder / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "labels" / "broken.txt").write_text(GOOD)

    found = gather([folder])

    assert [i.image.stem for i in found.items] == ["good"]
    where = {(p.path.name, p.line) for p in found.problems}
    assert where == {
        ("columns.txt", 3),
        ("klass.txt", 1),
        ("coords.txt", 4),
        ("coords.txt", 5),
        ("words.txt", 1),
        ("nolabel.jpg", 0),
        ("my-directory-list.txt", 0),
        ("broken.jpg", 0),
    }
    messages = {p.path.name: str(p) for p in found.problems}
    assert "without an image" in messages["my-directory-list.txt"]
    assert "unreadable image" in messages["broken.jpg"]
    assert "class 10" in messages["klass.txt"]
    assert str(folder / "labels" / "klass.txt") + ":1:" in messages["klass.txt"]


def test_image_without_label_is_background_only_when_allowed(tmp_path):
    folder = make_folder(tmp_path / "set", {"good": GOOD, "empty": None})
    assert len(gather([folder]).items) == 1
    allowed = gather([folder], allow_background=True)
    assert len(allowed.items) == 2 and not allowed.problems


def test_several_folders_gather_into_one_set(tmp_path):
    a = make_folder(tmp_path / "a", {"x": GOOD})
    b = make_folder(tmp_path / "b", {"y": GOOD, "z": GOOD})
    assert sorted(i.image.stem for i in gather([a, b]).items) == ["x", "y", "z"]


def test_a_set_labeled_with_other_class_names_is_read_through_them(tmp_path):
    # A set labeled elsewhere with the names 0..9 in that order: its class 0 is a zero, which is
    # the project's (and the shared set's) class 9; class 3 is a three, the project's class 2.
    natural = make_folder(tmp_path / "natural", {"x": GOOD})
    (natural / "classes.txt").write_text("\n".join("0123456789") + "\n")
    (item,) = gather([natural]).items
    assert [CLASS_NAMES[b.cls] for b in item.boxes] == ["0", "3"]
    own = make_folder(tmp_path / "own", {"x": GOOD})  # no names file: the project's order
    (item,) = gather([own]).items
    assert [CLASS_NAMES[b.cls] for b in item.boxes] == ["1", "4"]
    (own / "classes.txt").write_text("digit\nsign\n")
    with pytest.raises(DatasetError, match="are not the ten digits"):
        gather([own])


def test_a_label_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    folder = make_folder(tmp_path / "set", {"x": None})
    (folder / "labels" / "x.txt").write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    result = gather([folder])
    assert len(result.items) == 1 and not result.problems


def test_missing_empty_and_single_class_sets_stop_with_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        gather([tmp_path / "nowhere"])
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match="images/ and labels/"):
        gather([tmp_path / "flat"])
    with pytest.raises(DatasetError, match="no usable"):
        require_trainable(gather([make_folder(tmp_path / "bad", {"b": "12 0 0 0 0\n"})]))
    with pytest.raises(DatasetError, match="only 1 digit class"):
        require_trainable(gather([make_folder(tmp_path / "one", {"o": "4 0.5 0.5 0.2 0.2\n"})]))


def test_fingerprint_follows_image_and_label_bytes(tmp_path):
    folder = make_folder(tmp_path / "set", {"a": GOOD, "b": GOOD})
    before = fingerprint(gather([folder]).items)
    assert fingerprint(gather([folder]).items) == before
    (folder / "labels" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n")
    assert fingerprint(gather([folder]).items) != before


def test_images_that_share_a_stem_are_reported_and_left_out(tmp_path):
    # One label file cannot say which of x.jpg and x.png it labels.
    folder = make_folder(tmp_path / "set", {"x": GOOD, "y": GOOD})
    cv2.imwrite(str(folder / "images" / "x.png"), np.zeros((48, 64, 3), np.uint8))

    found = gather([folder])

    assert [i.image.name for i in found.items] == ["y.jpg"]
    messages = {p.path.name: p.message for p in found.problems}
    assert set(messages) == {"x.jpg", "x.png"}
    assert messages["x.png"] == "images share the stem x: x.jpg, x.png; both left out"


def test_a_jpeg_cut_short_is_reported_as_truncated_and_left_out(tmp_path):
    folder = make_folder(tmp_path / "set", {"cut": GOOD, "padded": GOOD, "whole": GOOD, "motion": GOOD, "thumb": GOOD})
    cut = folder / "images" / "cut.jpg"
    cv2.imwrite(str(cut), np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8))
    cut.write_bytes(cut.read_bytes()[:30000])  # OpenCV still decodes it, the lost part grey
    assert cv2.imread(str(cut)) is not None
    padded = folder / "images" / "padded.jpg"
    padded.write_bytes(padded.read_bytes() + b"\x00" * 300 + b"\xff" * 4)  # as some cameras write
    # A phone's motion photo: its video after the image's end marker.
    motion = folder / "images" / "motion.jpg"
    motion.write_bytes(motion.read_bytes() + np.random.default_rng(1).integers(0, 256, 20000, np.uint8).tobytes())
    # An EXIF thumbnail (a JPEG of its own, end marker and all) in a segment, the image after it cut short.
    thumb = folder / "images" / "thumb.jpg"
    small = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()
    app1 = b"\xff\xe1" + (len(small) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + small
    whole = cut.read_bytes()  # already cut short
    thumb.write_bytes(whole[:2] + app1 + whole[2:])

    found = gather([folder])

    assert sorted(i.image.name for i in found.items) == ["motion.jpg", "padded.jpg", "whole.jpg"]
    assert sorted(str(p) for p in found.problems) == [
        f"{cut}: unreadable image: cut short (the JPEG stops before its end marker)",
        f"{thumb}: unreadable image: cut short (the JPEG stops before its end marker)",
    ]


def test_a_missing_or_flat_folder_is_named_with_its_option(tmp_path):
    with pytest.raises(DatasetError, match=r"^--corrections .*nope: labeled folder not found$"):
        gather([tmp_path / "nope"], option="--corrections")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match=r"^--corrections .*flat: not a labeled folder"):
        gather([tmp_path / "flat"], option="--corrections")
