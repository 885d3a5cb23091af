import json
import os
import xml.etree.ElementTree as ET
import zipfile
from contextlib import contextmanager

import pytest

from edge.cli import main
from edge.errors import OutputError, ReviewError
from edge.labels import CLASS_NAMES, DIGIT_TO_CLASS, read_label_file
from edge.review.export import export
from edge.review.items import accept


def test_yolo_export_passes_ultralytics_own_dataset_check(queued_db, tmp_path):
    pytest.importorskip("ultralytics")
    os.environ["YOLO_OFFLINE"] = "1"
    from ultralytics.data.utils import check_det_dataset

    report = export(queued_db.db, tmp_path / "yolo")
    assert report.exported == [1, 2, 3] and report.problems == []
    data = check_det_dataset(str(tmp_path / "yolo" / "data.yaml"))
    assert data["nc"] == 10 and [data["names"][i] for i in range(10)] == list(CLASS_NAMES)
    assert (tmp_path / "yolo" / "classes.txt").read_text().split() == list(CLASS_NAMES)
    boxes = read_label_file(tmp_path / "yolo" / "labels" / "item-1.txt")
    assert [b.digit for b in boxes] == list("0756") and boxes[0].cls == DIGIT_TO_CLASS["0"] == 9
    assert sorted(p.name for p in (tmp_path / "yolo" / "images").iterdir()) == ["item-1.jpg", "item-2.jpg", "item-3.jpg"]


def test_pending_only_and_answered_only(queued_db, tmp_path):
    accept(queued_db.db, 1, "t")
    assert export(queued_db.db, tmp_path / "p", status="pending").exported == [2, 3]
    assert export(queued_db.db, tmp_path / "a", status="answered").exported == [1]


def test_export_into_a_non_empty_folder_is_refused_unless_overwrite(queued_db, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["review", "--db", str(queued_db.db_path), "export", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["review", "--db", str(queued_db.db_path), "export", str(out), "--overwrite"]) == 0
    assert main(["review", "--db", str(queued_db.db_path), "export", str(out), "--overwrite", "--status", "pending"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and len(list((out / "labels").iterdir())) == 3


def label_studio_problems(tasks, config_xml) -> list[str]:
    """Check tasks against Label Studio's documented import format for pre-annotated image tasks."""
    root = ET.fromstring(config_xml)
    image = root.find("Image")
    rect = root.find("RectangleLabels")
    problems = []
    if image is None or rect is None or rect.get("toName") != image.get("name"):
        return ["config needs an Image and a RectangleLabels pointing at it"]
    names = [label.get("value") for label in rect.findall("Label")]
    if names != list(CLASS_NAMES):
        problems.append(f"config labels {names}")
    data_key = image.get("value").lstrip("$")
    for n, task in enumerate(tasks):
        if not isinstance(task.get("data"), dict) or not isinstance(task["data"].get(data_key), str):
            problems.append(f"task {n}: data.{data_key} must be a string")
        for p in task.get("predictions", []):
            if not isinstance(p.get("model_version"), str) or not isinstance(p.get("score"), (int, float)):
                problems.append(f"task {n}: prediction needs model_version (str) and score (number)")
            for r in p.get("result", []):
                v = r.get("value", {})
                if (r.get("type"), r.get("from_name"), r.get("to_name")) != ("rectanglelabels", rect.get("name"), image.get("name")):
                    problems.append(f"task {n}: result type/from_name/to_name do not match the config")
                if not all(isinstance(r.get(k), int) and r[k] > 0 for k in ("original_width", "original_height")):
                    problems.append(f"task {n}: original_width/height")
                if not all(0 <= v.get(k, -1) <= 100 for k in ("x", "y", "width", "height")):
                    problems.append(f"task {n}: x, y, width, height must be percentages")
                if v.get("x", 0) + v.get("width", 0) > 100.001 or v.get("y", 0) + v.get("height", 0) > 100.001:
                    problems.append(f"task {n}: box leaves the image")
                if len(v.get("rectanglelabels", [])) != 1 or v["rectanglelabels"][0] not in names:
                    problems.append(f"task {n}: rectanglelabels must name one configured label")
                if not 0 <= r.get("score", 0) <= 1:
                    problems.append(f"task {n}: score")
    return problems


def test_label_studio_tasks_follow_the_documented_format_and_keep_the_pre_labels(queued_db, tmp_path):
    out = tmp_path / "ls"
    export(queued_db.db, out, fmt="label-studio", image_url="http://localhost:8081/images")
    tasks = json.loads((out / "tasks.json").read_text())
    assert label_studio_problems(tasks, (out / "labeling-config.xml").read_text()) == []
    first = tasks[0]
    assert first["data"]["item_id"] == 1 and first["data"]["image"] == "http://localhost:8081/images/item-1.jpg"
    pred = first["predictions"][0]
    assert pred["model_version"] == "fake" and pred["score"] == pytest.approx(0.3)
    item = queued_db.db["review_items"].get(1)
    pre = json.loads(item["prelabels"])
    for r, b in zip(pred["result"], pre):
        v = r["value"]
        x1 = v["x"] / 100 * r["original_width"]
        assert x1 == pytest.approx(b["xyxy"][0], abs=0.01) and v["rectanglelabels"] == [b["digit"]]
    assert (r["original_width"], r["original_height"]) == (item["width"], item["height"])
    assert (out / "images" / "item-1.jpg").is_file()


def test_label_studio_default_urls_are_local_files(queued_db, tmp_path):
    export(queued_db.db, tmp_path / "ls", fmt="label-studio")
    task = json.loads((tmp_path / "ls" / "tasks.json").read_text())[0]
    assert task["data"]["image"] == "/data/local-files/?d=" + str((tmp_path / "ls" / "images" / "item-1.jpg").resolve()).lstrip("/")


def test_cvat_zip_has_the_ultralytics_yolo_detection_layout(queued_db, tmp_path):
    yaml = pytest.importorskip("yaml")
    report = export(queued_db.db, tmp_path / "queue", fmt="cvat")
    assert report.out == tmp_path / "queue.zip"
    with zipfile.ZipFile(report.out) as zf:
        names = set(zf.namelist())
        train = zf.read("train.txt").decode().split()
        data = yaml.safe_load(zf.read("data.yaml"))
        label = zf.read("labels/train/item-1.txt").decode()
    assert {"data.yaml", "train.txt"} <= names
    assert train == ["images/train/item-1.jpg", "images/train/item-2.jpg", "images/train/item-3.jpg"]
    assert all(t in names for t in train) and all(t.replace("images/", "labels/").replace(".jpg", ".txt") in names for t in train)
    assert data["train"] == "train.txt" and data["path"] == "./" and data["names"] == dict(enumerate(CLASS_NAMES))
    # CVAT's importer takes every other key for a subset's list of images: `nc: 10` failed its upload
    # ("'int' object is not iterable", cvat-ai/cvat#8958).
    assert set(data) == {"path", "train", "names"}
    assert label.split()[0] == "9"  # the leading 0 is class 9
    with pytest.raises(ReviewError, match="exists"):
        export(queued_db.db, tmp_path / "queue.zip", fmt="cvat")


def test_an_item_whose_stored_label_is_not_a_digit_is_reported_and_left_out(queued_db, tmp_path, capsys):
    # A decision written before `review fix` checked its input: a full-width zero.
    prelabels = json.loads(queued_db.db["review_items"].get(1)["prelabels"])
    labels = [dict(b, digit="０" if k == 0 else b["digit"]) for k, b in enumerate(prelabels)]
    queued_db.db["review_decisions"].insert({"item_id": 1, "action": "fix", "digits": "０756", "labels": json.dumps(labels),
                                            "who": "old", "wall": 0.0})
    queued_db.db.conn.commit()
    out = tmp_path / "out"
    assert main(["review", "--db", str(queued_db.db_path), "export", str(out)]) == 0
    captured = capsys.readouterr()
    assert "item 1: label '０' is not one of the digits 0-9; left out" in captured.err
    assert "exported 2 item(s)" in captured.out
    assert sorted(p.name for p in (out / "images").iterdir()) == ["item-2.jpg", "item-3.jpg"]
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["item-2.txt", "item-3.txt"]


@contextmanager
def files_limited_to(nbytes: int):
    """A full disk, as the OS reports it to this process: writing a file past `nbytes` fails."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def snapshot(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def never_exported(db) -> bool:
    return all(r["exported"] is None for r in db.query("SELECT exported FROM review_items"))


def test_export_to_an_unwritable_place_is_one_line(queued_db, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "export"
    for fmt in ("yolo", "label-studio", "cvat"):
        assert main(["review", "--db", str(queued_db.db_path), "export", str(out), "--format", fmt]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot write the export to {out}" in err and "nothing exported" in err
    assert never_exported(queued_db.db)


@pytest.mark.parametrize("fmt", ["yolo", "label-studio", "cvat"])
def test_a_full_disk_leaves_no_partial_export(queued_db, tmp_path, fmt):
    out = tmp_path / "exports" / "new"
    image = next((tmp_path / "s-frames").rglob("*.jpg"))
    with files_limited_to(image.stat().st_size // 2), pytest.raises(OutputError, match="File too large"):
        export(queued_db.db, out, fmt=fmt)
    assert list((tmp_path / "exports").iterdir()) == []  # no folder, no zip, no hidden staging
    assert never_exported(queued_db.db)


def test_a_full_disk_keeps_an_earlier_export_and_the_persons_files(queued_db, tmp_path):
    out = tmp_path / "out"
    export(queued_db.db, out, status="pending")
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    accept(queued_db.db, 1, "t")
    image = out / "images" / "item-1.jpg"
    with files_limited_to(image.stat().st_size // 2), pytest.raises(OutputError):
        export(queued_db.db, out, fmt="label-studio", overwrite=True)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
