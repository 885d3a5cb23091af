import json
import shutil

import pytest

from edge.cli import main
from edge.errors import ReviewError
from edge.labels import DIGIT_TO_CLASS, read_label_file
from edge.review.export import export
from edge.review.importer import import_labels
from edge.review.items import decisions, get_item, list_items
from edge.review.queue import image_path


def test_a_corrected_yolo_folder_comes_back_and_bad_entries_are_reported(queued_db, tmp_path, capsys):
    db = queued_db.db
    src = tmp_path / "to-label"
    export(db, src, status="pending")
    # item 1: the reviewer corrects the last digit (6 -> 7)
    lines = (src / "labels" / "item-1.txt").read_text().splitlines()
    lines[-1] = f"{DIGIT_TO_CLASS['7']} " + lines[-1].split(" ", 1)[1]
    (src / "labels" / "item-1.txt").write_text("\n".join(lines) + "\n")
    # item 2: a bad line; item 3: unchanged but its image is gone everywhere; item 999: unknown
    (src / "labels" / "item-2.txt").write_text("0 0.5 0.5 0.1\n")
    image_path(db, get_item(db, 3).image).unlink()
    (src / "images" / "item-3.jpg").unlink()
    shutil.copy(src / "labels" / "item-1.txt", src / "labels" / "item-999.txt")
    out = tmp_path / "labeled"

    code = main(["review", "--db", str(queued_db.db_path), "--who", "ann", "import", str(src), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    assert "imported 1 item(s)" in captured.out and "3 problem(s)" in captured.out
    assert "item-2.txt:1: expected 5 columns" in captured.err
    assert "unknown item id 999" in captured.err
    assert "item 3: image missing" in captured.err

    item = get_item(db, 1)
    assert item.status == "fixed"
    (decision,) = decisions(db, 1)
    assert (decision["action"], decision["digits"], decision["who"]) == ("import", "0757", "ann")
    assert [b["digit"] for b in item.prelabels] == list("0756")  # pre-labels kept
    assert [b.digit for b in read_label_file(out / "labels" / "item-1.txt")] == list("0757")
    assert (out / "images" / "item-1.jpg").is_file() and sorted(p.name for p in (out / "labels").iterdir()) == ["item-1.txt"]
    assert [i.id for i in list_items(db, "pending")] == [2, 3]


def ls_export_from(tasks_json):
    """What Label Studio's JSON export gives back after a reviewer submitted each prediction."""
    tasks = json.loads(tasks_json)
    for n, task in enumerate(tasks, start=1):
        task["id"] = n
        result = [dict(r) for r in task["predictions"][0]["result"]]
        task["annotations"] = [{"id": n, "result": result, "was_cancelled": False, "ground_truth": False}]
    return tasks


def test_a_label_studio_export_comes_back_and_bad_tasks_are_reported(queued_db, tmp_path):
    db = queued_db.db
    export(db, tmp_path / "ls", fmt="label-studio")
    tasks = ls_export_from((tmp_path / "ls" / "tasks.json").read_text())
    tasks[0]["annotations"][0]["result"][3]["value"]["rectanglelabels"] = ["7"]  # 07:56 -> 07:57
    tasks[1]["annotations"][0]["result"][0]["value"]["rectanglelabels"] = ["A"]  # not a digit
    unknown = json.loads(json.dumps(tasks[0]))
    unknown["data"]["item_id"] = 404
    tasks.append(unknown)
    exported = tmp_path / "project-1.json"
    exported.write_text(json.dumps(tasks))

    report = import_labels(db, exported, tmp_path / "labeled", "ann")
    assert report.imported == [1, 3]
    assert len(report.problems) == 2
    assert any("'A'" in p and "item 2 not imported" in p for p in report.problems)
    assert any("unknown item id 404" in p for p in report.problems)
    assert get_item(db, 1).status == "fixed" and get_item(db, 3).status == "accepted"
    assert [b.digit for b in read_label_file(tmp_path / "labeled" / "labels" / "item-1.txt")] == list("0757")
    boxes = read_label_file(tmp_path / "labeled" / "labels" / "item-3.txt")
    pre = get_item(db, 3).prelabels
    assert abs(boxes[0].to_xyxy(320, 240)[0] - pre[0]["xyxy"][0]) < 0.5  # percent round trip keeps the box


def test_a_cancelled_or_unlabeled_task_is_reported_not_guessed(queued_db, tmp_path):
    export(queued_db.db, tmp_path / "ls", fmt="label-studio")
    tasks = ls_export_from((tmp_path / "ls" / "tasks.json").read_text())
    tasks[0]["annotations"][0]["was_cancelled"] = True
    tasks[1]["annotations"] = []
    (tmp_path / "e.json").write_text(json.dumps(tasks))
    report = import_labels(queued_db.db, tmp_path / "e.json", tmp_path / "labeled", "ann")
    assert report.imported == [3] and len(report.problems) == 2
    assert "task 1: its annotation was cancelled (skipped in Label Studio); item 1 not imported" in report.problems[0]
    assert "item 2 has no annotation" in report.problems[1]
    assert get_item(queued_db.db, 1).status == "pending"


def test_a_cvat_zip_round_trips(queued_db, tmp_path):
    report = export(queued_db.db, tmp_path / "cvat.zip", fmt="cvat")
    back = import_labels(queued_db.db, report.out, tmp_path / "labeled", "ann")
    assert back.imported == [1, 2, 3] and back.problems == []
    assert {i.status for i in list_items(queued_db.db, "all")} == {"accepted"}


def test_terminal_answers_become_a_training_folder(queued_db, tmp_path, capsys):
    db_path = str(queued_db.db_path)
    assert main(["review", "--db", db_path, "fix", "1", "0757"]) == 0
    assert main(["review", "--db", db_path, "export", str(tmp_path / "train"), "--status", "answered"]) == 0
    labels = tmp_path / "train" / "labels"
    assert [p.name for p in labels.iterdir()] == ["item-1.txt"]
    assert [b.digit for b in read_label_file(labels / "item-1.txt")] == list("0757")
    assert (tmp_path / "train" / "images" / "item-1.jpg").is_file()


def test_the_labeled_folder_is_what_the_trainer_gathers(queued_db, tmp_path):
    dataset = pytest.importorskip("trainer.dataset")
    export(queued_db.db, tmp_path / "src")
    report = import_labels(queued_db.db, tmp_path / "src", tmp_path / "labeled", "ann")
    gathered = dataset.gather_folder(tmp_path / "labeled")
    assert len(gathered.items) == len(report.imported) == 3 and not gathered.problems


def test_a_full_disk_while_importing_stops_with_one_line_and_leaves_no_half_pair(queued_db, tmp_path):
    from edge.errors import OutputError
    from tests.edge.review.test_review_export import files_limited_to

    src, out = tmp_path / "to-label", tmp_path / "labeled"
    export(queued_db.db, src, status="pending")
    with files_limited_to(100), pytest.raises(OutputError) as err:  # classes.txt fits; no frame does
        import_labels(queued_db.db, src, out, "ann")
    assert "cannot write item 1's labeled pair" in str(err.value) and "File too large" in str(err.value)
    assert "\n" not in str(err.value)
    assert not any((out / "images").iterdir()) and not any((out / "labels").iterdir())
    assert [i.id for i in list_items(queued_db.db, "pending")] == [1, 2, 3]  # nothing decided


def cvat_images_xml(items, edit=None) -> str:
    """annotations.xml as CVAT writes it for "CVAT for images 1.1", each queued item one image with
    its pre-labels as boxes (what a reviewer submits unchanged); `edit(item_id, image)` changes one."""
    import xml.etree.ElementTree as ET

    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    labels = ET.SubElement(ET.SubElement(ET.SubElement(root, "meta"), "task"), "labels")
    for d in "0123456789":
        ET.SubElement(ET.SubElement(labels, "label"), "name").text = d
    for n, item in enumerate(items):
        image = ET.SubElement(root, "image", id=str(n), name=f"images/train/item-{item.id}.jpg",
                              width=str(item.width), height=str(item.height))
        ET.SubElement(image, "tag", label="checked", source="manual")
        for b in item.prelabels:
            x1, y1, x2, y2 = b["xyxy"]
            ET.SubElement(image, "box", label=b["digit"], source="manual", occluded="0", xtl=f"{x1:.2f}",
                          ytl=f"{y1:.2f}", xbr=f"{x2:.2f}", ybr=f"{y2:.2f}", z_order="0")
        if edit:
            edit(item.id, image)
    return ET.tostring(root, encoding="unicode")


def test_cvat_s_own_xml_export_comes_back_alone_or_in_its_zip(queued_db, tmp_path):
    # CVAT offers "CVAT for images 1.1" first when a task is exported; before, its zip was read as
    # a YOLO folder and refused ("no label files under labels/").
    import zipfile

    db = queued_db.db
    items = list_items(db, "pending")

    def reviewed(item_id, image):
        if item_id == 1:
            image.findall("box")[3].set("label", "7")  # 07:56 -> 07:57
        if item_id == 2:
            image.findall("box")[0].set("rotation", "30.0")
        if item_id == 3:
            for box in image.findall("box"):
                image.remove(box)  # nobody annotated it

    xml = tmp_path / "annotations.xml"
    xml.write_text(cvat_images_xml(items, reviewed))
    report = import_labels(db, xml, tmp_path / "labeled", "ann")
    assert report.imported == [1]
    assert [p.split(": ", 1)[1] for p in report.problems] == [
        "a box turned 30 degrees; draw it upright; item 2 not imported",
        "item 3 has no annotation; not imported (a frame with no display: segread review skip 3)"]
    assert get_item(db, 1).status == "fixed" and [i.id for i in list_items(db, "pending")] == [2, 3]
    assert [b.digit for b in read_label_file(tmp_path / "labeled" / "labels" / "item-1.txt")] == list("0757")

    # Its zip, the images beside it, the boxes in pixels of images CVAT had at half the size.
    def halved(item_id, image):
        image.set("width", str(get_item(db, item_id).width / 2))
        image.set("height", str(get_item(db, item_id).height / 2))
        for box in image.findall("box"):
            for k in ("xtl", "ytl", "xbr", "ybr"):
                box.set(k, str(float(box.get(k)) / 2))

    rest = [i for i in items if i.id != 1]
    with zipfile.ZipFile(tmp_path / "task_7_dataset.zip", "w") as zf:
        zf.writestr("annotations.xml", cvat_images_xml(rest, halved))
        for item in rest:
            zf.write(image_path(db, item.image), f"images/train/item-{item.id}.jpg")
    back = import_labels(db, tmp_path / "task_7_dataset.zip", tmp_path / "labeled", "ann")
    assert back.imported == [2, 3] and back.problems == []
    assert {i.status for i in list_items(db, "all")} == {"fixed", "accepted"}
    for item in rest:
        boxes = read_label_file(tmp_path / "labeled" / "labels" / f"item-{item.id}.txt")
        assert abs(boxes[0].to_xyxy(item.width, item.height)[0] - item.prelabels[0]["xyxy"][0]) < 0.5

    not_xml = tmp_path / "notes.xml"
    not_xml.write_text("<html><body>a login page</body></html>")
    with pytest.raises(ReviewError, match="not a CVAT XML export"):
        import_labels(db, not_xml, tmp_path / "labeled", "ann")
