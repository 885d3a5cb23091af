"""The label audit: photos the reader reads otherwise than their labels, written out as pre-labels
to check, and the checked labels taken back with --relabel."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import DatasetError, OutputError
from edge.labels import DIGIT_TO_CLASS, LabelBox
from tests.conftest import FakeDetector, digits_at
from trainer.audit import audit, write_folder
from trainer.dataset import Item, gather
from trainer.evaluate import photo_truth
from trainer.split import side


def row_label(digits: str, x0: float = 0.2, step: float = 0.15, width: float = 0.12) -> str:
    """Label lines of one row of digits across the middle of a photo."""
    return "".join(f"{DIGIT_TO_CLASS[d]} {x0 + i * step:.3f} 0.5 {width:.3f} 0.3\n" for i, d in enumerate(digits))


def make_set(root: Path, photos: dict[str, tuple[str, int]]) -> Path:
    """A labeled folder: stem -> (labels' digits, grey level of the photo)."""
    for sub in ("images", "labels"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stem, (digits, grey) in photos.items():
        cv2.imwrite(str(root / "images" / f"{stem}.jpg"), np.full((480, 640, 3), grey, np.uint8))
        (root / "labels" / f"{stem}.txt").write_text(row_label(digits))
    return root


class ReadsBrightPhotos(FakeDetector):
    """Sees a 07:53 on a bright photo and nothing on a dark one."""

    def detect(self, image, imgsz=None):
        self.calls.append((image.shape, imgsz))
        return digits_at("0753") if image.mean() > 100 else digits_at("")


TWIN_A, TWIN_B = "take-7_jpg.rf.aaaa", "take-7_jpg.rf.bbbb"


@pytest.fixture
def labeled(tmp_path) -> Path:
    # "right" is labeled as it reads; take-7 is a slip (07:93 for 07:53) in two augmented copies,
    # one of which the reader cannot see; "other" reads otherwise in two places.
    return make_set(tmp_path / "set", {
        "right": ("0753", 200), TWIN_A: ("0793", 200), TWIN_B: ("0793", 30), "other": ("1750", 200),
    })


def test_the_audit_lists_photos_read_otherwise_than_their_labels(labeled):
    report = audit(ReadsBrightPhotos(), [labeled])
    assert (report.photos, report.agreed, report.unsure) == (4, 1, 1)
    disputed = {f.image.name: f for f in report.disputed}
    assert set(disputed) == {f"{TWIN_A}.jpg", "other.jpg"}
    slip = disputed[f"{TWIN_A}.jpg"]
    assert (slip.labeled, slip.read, slip.places) == ("0793", "0753", [3])
    assert disputed["other.jpg"].places == [1, 4]
    d = report.as_dict()
    assert d["disputed_count"] == 2 and sum(d["disputed_by_side"].values()) == 2
    assert json.loads(json.dumps(d))["disputed"][0]["read"] == "0753"


def test_checked_labels_go_back_with_relabel_and_keep_the_photos_side(labeled, tmp_path):
    report = audit(ReadsBrightPhotos(), [labeled])
    out = tmp_path / "audit"
    # The disputed photos and the twin of one: the twin the reader held keeps its own labels.
    assert write_folder(report, out) == 3
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(
        [f"{TWIN_A}.jpg", f"{TWIN_B}.jpg", "other.jpg"])
    assert (out / "classes.txt").is_file() and json.loads((out / "audit.json").read_text())["disputed_count"] == 2
    # A person checks them: take-7's pre-label is right, so its held twin gets the same fix; and
    # "other" really shows 17:50, so its file goes back as it was.
    (out / "labels" / f"{TWIN_B}.txt").write_text((out / "labels" / f"{TWIN_A}.txt").read_text())
    (out / "labels" / "other.txt").write_text(row_label("1750"))

    before = {i.image.name: i for i in gather([labeled]).items}
    after = gather([labeled], relabel=[out])
    items = {i.image.name: i for i in after.items}
    assert sorted(after.relabeled) == sorted([f"{TWIN_A}.jpg", f"{TWIN_B}.jpg", "other.jpg"])
    assert photo_truth(items[f"{TWIN_A}.jpg"]) == photo_truth(items[f"{TWIN_B}.jpg"]) == "0753"
    assert photo_truth(items["other.jpg"]) == "1750" and photo_truth(items["right.jpg"]) == "0753"
    assert all(side(items[n].source) == side(before[n].source) for n in items)
    # Audited again with the fixes, only "other" is still disputed.
    again = audit(ReadsBrightPhotos(), [labeled], relabel=[out])
    assert [f.image.name for f in again.disputed] == ["other.jpg"]


def test_the_audit_folder_is_never_written_over_unasked(labeled, tmp_path):
    report = audit(ReadsBrightPhotos(), [labeled])
    out = tmp_path / "audit"
    (out / "labels").mkdir(parents=True)
    (out / "labels" / "mine.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(OutputError, match="not an empty folder"):
        write_folder(report, out)
    assert (out / "labels" / "mine.txt").is_file()
    assert write_folder(report, out, overwrite=True) == 3


def test_the_audit_folder_never_overlaps_a_folder_it_reads(labeled, tmp_path):
    # `--out` on the labeled set itself (or the checked --relabel folder) would replace its images/
    # and labels/: refused, even with --overwrite, before anything is written.
    report = audit(ReadsBrightPhotos(), [labeled])
    before = sorted(p.relative_to(labeled) for p in labeled.rglob("*"))
    for out in (labeled, labeled / "audit", labeled.parent):
        with pytest.raises(OutputError, match="overlaps"):
            write_folder(report, out, overwrite=True, inputs=[labeled])
    assert sorted(p.relative_to(labeled) for p in labeled.rglob("*")) == before
    from edge.cli import main

    assert main(["audit", "models/current", "--data", str(labeled), "--out", str(labeled), "--overwrite"]) == 2
    assert sorted(p.relative_to(labeled) for p in labeled.rglob("*")) == before


def test_a_bad_relabel_leaves_its_photo_out_and_is_reported(labeled, tmp_path):
    fixes = tmp_path / "fixes" / "labels"
    fixes.mkdir(parents=True)
    (fixes / "right.txt").write_text("3 0.5 0.5 0.2\n")  # four columns
    (fixes / "nobody.txt").write_text(row_label("0753"))
    found = gather([labeled], relabel=[fixes.parent])
    assert "right.jpg" not in {i.image.name for i in found.items}  # its old label is the one in doubt
    problems = [str(p) for p in found.problems]
    assert any("right.txt:1:" in p for p in problems)
    assert any("nobody.txt" in p and "no labeled photo" in p for p in problems)
    with pytest.raises(DatasetError, match="no labels/ folder"):
        gather([labeled], relabel=[tmp_path])


def test_a_sheared_displays_neighbouring_digits_are_all_its_truth(tmp_path):
    """A camera off to one side slants the digits: neighbouring label boxes overlap (here by 38%
    of the narrower one, as on a labeled 23:12). Each is a digit; two boxes over one place are not."""
    def box(digit: str, x1: float, x2: float) -> LabelBox:
        return LabelBox(DIGIT_TO_CLASS[digit], (x1 + x2) / 2, 0.5, x2 - x1, 0.4)

    sheared = (box("2", 0.14, 0.35), box("3", 0.31, 0.52), box("1", 0.536, 0.702), box("2", 0.639, 0.863))
    assert photo_truth(Item(tmp_path / "s.jpg", sheared, "s", 416, 416)) == "2312"
    twice = (box("2", 0.1, 0.3), box("3", 0.35, 0.55), box("8", 0.36, 0.55), box("4", 0.6, 0.8))
    assert len(photo_truth(Item(tmp_path / "t.jpg", twice, "t", 416, 416))) == 3


def test_segread_audit_finds_real_label_slips_with_the_shipped_model(tmp_path):
    """Two real labeled photos of 37:5x whose labels say 30:5x (the shared set has 17 such slips)."""
    import shutil

    from click.testing import CliRunner

    from edge.models import DEFAULT_MODELS_DIR
    from tests.conftest import DIGITS, need
    from trainer.cli import audit as audit_cli

    if not (DEFAULT_MODELS_DIR / "current").is_file():
        pytest.skip("no shipped model in models/current yet")
    data = tmp_path / "set"
    for sub in ("images", "labels"):
        (data / sub).mkdir(parents=True)
    slips = {"digittake-16-jpg_jpg.rf.a1f11d444f83baa8b116dbaabcc860aa": ("3057", "3757"),
             "digittake-15-jpg_jpg.rf.9d80c398824ba69a65f6a5a870f08468": ("3054", "3754")}
    for stem in slips:
        shutil.copy(need(DIGITS / "images" / f"{stem}.jpg"), data / "images")
        shutil.copy(DIGITS / "labels" / f"{stem}.txt", data / "labels")
    out = tmp_path / "audit"
    result = CliRunner().invoke(audit_cli, [str(DEFAULT_MODELS_DIR / "current"), "--data", str(data), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout is the report alone: it pipes
    found = {Path(f["image"]).stem: (f["labeled"], f["read"], f["places"]) for f in report["disputed"]}
    assert found == {stem: (*said, [2]) for stem, said in slips.items()}
    # The written pre-labels are the reader's: taken back, they are the photos' new truth.
    fixed = gather([data], relabel=[out])
    assert sorted(photo_truth(i) for i in fixed.items) == ["3754", "3757"]


def test_the_committed_label_fixes_each_change_a_photo_of_the_shared_set():
    """trainer/relabel/digits: 17 slips checked by eye. Each names a photo of the set, parses, and
    changes that photo's reading; none moves a photo between sides of the split."""
    from tests.conftest import DIGITS, ROOT, need

    fixes = ROOT / "trainer" / "relabel" / "digits"
    before = {i.image.name: i for i in gather([need(DIGITS)]).items}
    after = gather([DIGITS], relabel=[fixes])
    assert len(after.relabeled) == len(list((fixes / "labels").glob("*.txt"))) == 17
    assert len(after.items) == len(before) and len(after.problems) == 1  # the set's own junk file, as ever
    for item in after.items:
        if item.image.name in after.relabeled:
            assert photo_truth(item) != photo_truth(before[item.image.name]), item.image.name
            assert len(photo_truth(item)) == len(photo_truth(before[item.image.name]))
    sides = [side(i.source) for i in after.items if i.image.name in after.relabeled]
    assert (sides.count("train"), sides.count("val"), sides.count("test")) == (14, 1, 2)
