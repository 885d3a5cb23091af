"""Bad input to `segread review import`: each problem is reported by name and nothing is guessed."""

import json
import zipfile
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import LabelError
from edge.labels import CLASS_NAMES, read_label_file
from edge.review.export import export
from edge.review.importer import import_labels
from edge.review.items import get_item, list_items


def pending(db) -> list[int]:
    return [i.id for i in list_items(db, "pending", "queued")]


def yolo_export(queued_db, tmp_path, name="to-label"):
    folder = tmp_path / name
    export(queued_db.db, folder, status="pending")
    return folder


def ls_tasks(queued_db, tmp_path) -> list[dict]:
    """Label Studio's JSON export after a reviewer submitted each pre-label unchanged."""
    export(queued_db.db, tmp_path / "ls", fmt="label-studio")
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    for n, task in enumerate(tasks, start=1):
        task["id"] = n
        task["annotations"] = [{"id": n, "result": [dict(r) for r in task["predictions"][0]["result"]]}]
    return tasks


def import_ls(queued_db, tmp_path, tasks, name="project.json"):
    path = tmp_path / name
    path.write_text(json.dumps(tasks))
    return import_labels(queued_db.db, path, tmp_path / "labeled", "ann")


def test_ids_too_large_for_sqlite_are_unknown_items(queued_db, tmp_path):
    folder = yolo_export(queued_db, tmp_path)
    (folder / "labels" / "item-1.txt").rename(folder / "labels" / "item-99999999999999999999999.txt")
    report = import_labels(queued_db.db, folder, tmp_path / "labeled", "ann")
    assert report.imported == [2, 3]
    assert report.problems == ["labels/item-99999999999999999999999.txt: unknown item id 99999999999999999999999"]

    tasks = ls_tasks(queued_db, tmp_path)
    tasks[0]["data"]["item_id"] = 10**30
    report = import_ls(queued_db, tmp_path, tasks[:1])
    assert report.imported == [] and report.problems == [f"project.json task 1: unknown item id {10**30}"]


NATURAL = [str(d) for d in range(10)]


def relabel_natural(label_text: str) -> str:
    """Label lines of the project's class order rewritten with class id = the digit (CVAT's 0..9 task)."""
    lines = [line.split(" ", 1) for line in label_text.splitlines() if line.strip()]
    return "".join(f"{CLASS_NAMES[int(cls)]} {rest}\n" for cls, rest in lines)


def natural_yaml(names=NATURAL) -> str:
    return "path: ./\ntrain: train.txt\n\nnames:\n" + "".join(f"  {i}: {name}\n" for i, name in enumerate(names))


def cvat_zip(queued_db, tmp_path, names=NATURAL) -> Path:
    """What CVAT exports (Ultralytics YOLO Detection 1.0) from a task whose labels are `names`."""
    ours = export(queued_db.db, tmp_path / "ours.zip", fmt="cvat").out
    theirs = tmp_path / "cvat-task.zip"
    with zipfile.ZipFile(ours) as src, zipfile.ZipFile(theirs, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "data.yaml":
                data = natural_yaml(names).encode()
            elif name.startswith("labels/"):
                data = relabel_natural(data.decode()).encode()
            dst.writestr(name, data)
    return theirs


def imported_digits(labeled, item_id) -> str:
    return "".join(b.digit for b in read_label_file(labeled / "labels" / f"item-{item_id}.txt"))


@pytest.mark.parametrize("names_file", ["classes.txt", "data.yaml"])
def test_a_yolo_folder_is_read_through_its_own_class_names(queued_db, tmp_path, names_file):
    folder = yolo_export(queued_db, tmp_path)
    (folder / "classes.txt").unlink()
    (folder / "data.yaml").unlink()
    if names_file == "classes.txt":
        (folder / "classes.txt").write_text("\n".join(NATURAL) + "\n")
    else:
        (folder / "data.yaml").write_text(natural_yaml())
    for label in (folder / "labels").iterdir():
        label.write_text(relabel_natural(label.read_text()))
    report = import_labels(queued_db.db, folder, tmp_path / "labeled", "ann")
    assert report.imported == [1, 2, 3] and report.problems == []
    assert imported_digits(tmp_path / "labeled", 1) == "0756"
    assert get_item(queued_db.db, 1).status == "accepted"  # the same digits the model pre-labeled


def test_a_yolo_folder_without_names_uses_the_project_order(queued_db, tmp_path):
    folder = yolo_export(queued_db, tmp_path)
    (folder / "classes.txt").unlink()
    (folder / "data.yaml").unlink()
    report = import_labels(queued_db.db, folder, tmp_path / "labeled", "ann")
    assert report.imported == [1, 2, 3] and imported_digits(tmp_path / "labeled", 1) == "0756"


def test_a_cvat_zip_with_natural_order_names_imports_the_right_digits(queued_db, tmp_path):
    report = import_labels(queued_db.db, cvat_zip(queued_db, tmp_path), tmp_path / "labeled", "ann")
    assert report.imported == [1, 2, 3] and report.problems == []
    assert imported_digits(tmp_path / "labeled", 1) == "0756"
    assert imported_digits(tmp_path / "labeled", 3) == "0801"


def test_cvat_yolo_1_1_zip_imports(queued_db, tmp_path):
    """CVAT's "YOLO 1.1" export: obj.names (the task's labels 0..9), obj.data, train.txt and
    obj_train_data/ holding each frame's labels, and its image where the images were saved too."""
    ours = export(queued_db.db, tmp_path / "ours.zip", fmt="cvat").out
    theirs = tmp_path / "cvat-yolo.zip"
    with zipfile.ZipFile(ours) as src, zipfile.ZipFile(theirs, "w") as dst:
        dst.writestr("obj.names", "\n".join(NATURAL) + "\n")
        dst.writestr("obj.data", "classes = 10\nnames = data/obj.names\ntrain = data/train.txt\n")
        dst.writestr("train.txt", "".join(f"data/obj_train_data/item-{i}.jpg\n" for i in (1, 2, 3)))
        for name in src.namelist():
            stem = Path(name).name
            if name.startswith("labels/"):
                text = relabel_natural(src.read(name).decode())
                if stem == "item-1.txt":  # the reviewer made the last digit a 7: 07:56 -> 07:57
                    lines = text.splitlines()
                    text = "\n".join(lines[:3] + ["7 " + lines[3].split(" ", 1)[1]]) + "\n"
                dst.writestr(f"obj_train_data/{stem}", text)
            elif name.startswith("images/"):
                dst.writestr(f"obj_train_data/{stem}", src.read(name))
    report = import_labels(queued_db.db, theirs, tmp_path / "labeled", "ann")
    assert report.imported == [1, 2, 3] and report.problems == []
    assert [imported_digits(tmp_path / "labeled", i) for i in (1, 3)] == ["0757", "0801"]
    assert get_item(queued_db.db, 1).status == "fixed" and get_item(queued_db.db, 3).status == "accepted"


@pytest.mark.parametrize("names", [["1", "2", "3"], NATURAL[:9] + ["a"], NATURAL[:9] + ["1"]])
def test_a_cvat_zip_whose_names_are_not_the_ten_digits_imports_nothing(queued_db, tmp_path, capsys, names):
    source = cvat_zip(queued_db, tmp_path, names)
    out = tmp_path / "labeled"
    assert main(["review", "--db", str(queued_db.db_path), "import", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cvat-task.zip/data.yaml: class names" in err and "not the ten digits" in err
    assert pending(queued_db.db) == [1, 2, 3] and not out.exists()


def test_names_files_that_disagree_import_nothing(queued_db, tmp_path):
    folder = yolo_export(queued_db, tmp_path)
    (folder / "classes.txt").write_text("\n".join(NATURAL) + "\n")  # data.yaml keeps the project's order
    with pytest.raises(LabelError, match="disagree"):
        import_labels(queued_db.db, folder, tmp_path / "labeled", "ann")
    assert pending(queued_db.db) == [1, 2, 3]


def test_tasks_without_an_annotation_are_reported_and_stay_pending(queued_db, tmp_path):
    tasks = ls_tasks(queued_db, tmp_path)
    del tasks[0]["annotations"]  # exported before anyone opened it
    tasks[1]["annotations"][0]["result"] = None
    json_min = {"item_id": 3, "digits": "0801"}  # JSON-MIN shape with no boxes control
    report = import_ls(queued_db, tmp_path, tasks[:2] + [json_min])
    assert report.imported == []
    assert report.problems == [
        "project.json task 1: item 1 has no annotation; not imported",
        "project.json task 2: item 2 has no annotation; not imported",
        "project.json task 2: item 3 has no annotation; not imported",
    ]
    assert pending(queued_db.db) == [1, 2, 3]


def test_an_annotation_whose_boxes_were_all_deleted_is_reported_not_imported_as_no_digits(queued_db, tmp_path):
    tasks = ls_tasks(queued_db, tmp_path)
    tasks[0]["annotations"][0]["result"] = []  # the reviewer deleted every pre-label box and submitted
    tasks[1]["annotations"][0]["result"] = [{"type": "choices", "value": {"choices": ["glare"]}}]  # no box either
    report = import_ls(queued_db, tmp_path, tasks)
    assert report.imported == [3]
    assert report.problems == [
        "project.json task 1: item 1's annotation has no digit boxes; not imported (a frame with no display: segread review skip 1)",
        "project.json task 2: box 0: a choices result, not a digit box; ignored",
        "project.json task 2: item 2's annotation has no digit boxes; not imported (a frame with no display: segread review skip 2)",
    ]
    assert pending(queued_db.db) == [1, 2] and not (tmp_path / "labeled" / "labels" / "item-1.txt").exists()


def test_a_json_min_export_imports(queued_db, tmp_path):
    task = ls_tasks(queued_db, tmp_path)[0]
    json_min = {"id": 1, "image": task["data"]["image"], "item_id": 1,
                "label": [dict(r["value"], original_width=320, original_height=240) for r in task["annotations"][0]["result"]]}
    json_min["label"][3]["rectanglelabels"] = ["7"]
    report = import_ls(queued_db, tmp_path, [json_min])
    assert report.imported == [1] and report.problems == []
    assert imported_digits(tmp_path / "labeled", 1) == "0757"


def test_a_digit_drawn_as_a_polygon_keeps_the_task_out(queued_db, tmp_path):
    tasks = ls_tasks(queued_db, tmp_path)
    last = tasks[0]["annotations"][0]["result"][3]
    v = last["value"]
    last["type"] = "polygonlabels"
    last["value"] = {"points": [[v["x"], v["y"]], [v["x"] + v["width"], v["y"]], [v["x"], v["y"] + v["height"]]],
                     "polygonlabels": ["6"]}
    report = import_ls(queued_db, tmp_path, tasks[:1])
    assert report.imported == []
    assert report.problems == ["project.json task 1: 1 of 4 digit labels are polygonlabels, not rectangles; "
                               "draw each digit as a rectangle; item 1 not imported"]
    assert pending(queued_db.db) == [1, 2, 3]


def test_a_result_that_is_no_label_is_reported_and_the_digits_imported(queued_db, tmp_path):
    tasks = ls_tasks(queued_db, tmp_path)
    tasks[0]["annotations"][0]["result"].append(
        {"id": "c", "type": "choices", "from_name": "note", "to_name": "image", "value": {"choices": ["glare"]}})
    report = import_ls(queued_db, tmp_path, tasks[:1])
    assert report.imported == [1]
    assert report.problems == ["project.json task 1: box 4: a choices result, not a digit box; ignored"]


def set_path(task, path, value):
    *head, last = path
    for key in head:
        task = task[key]
    task[last] = value


@pytest.mark.parametrize("path, value, says", [
    (("annotations", 0, "result", 0, "value"), None, "box 0: value is null, not an object"),
    (("annotations", 0, "result", 0), "7", 'box 0: "7" is not a result object'),
    (("annotations", 0, "result"), {"x": 1}, 'result is {"x": 1}, not a list'),
    (("annotations",), "done", 'annotations is "done", not a list'),
    (("annotations", 0, "result", 0, "value", "x"), "12.5", 'box 0: x is "12.5", not a number'),
    (("annotations", 0, "result", 0, "value", "width"), None, "box 0: width is null, not a number"),
    (("annotations", 0, "result", 0, "value", "y"), float("nan"), "box 0: y is NaN, not a number"),
    (("annotations", 0, "result", 0, "value", "x"), 99.0, "must be percentages with positive size"),
    (("annotations", 0, "result", 0, "value", "rotation"), 45, "box 0: box is rotated 45 degrees"),
    (("annotations", 0, "result", 0, "value", "rectanglelabels"), None, "box 0: label None is not one of the digits"),
    (("annotations", 0, "result", 0, "value", "rectanglelabels"), "0", "box 0: label '0' is not one of the digits"),
])
def test_odd_values_in_a_label_studio_result_are_reported(queued_db, tmp_path, path, value, says):
    tasks = ls_tasks(queued_db, tmp_path)
    set_path(tasks[0], path, value)
    report = import_ls(queued_db, tmp_path, tasks)
    assert report.imported == [2, 3]
    (problem,) = report.problems
    assert problem.startswith("project.json task 1: ") and says in problem and problem.endswith("item 1 not imported")
    assert pending(queued_db.db) == [1]


@pytest.mark.parametrize("data", [None, "item-1.jpg", [1]])
def test_a_task_whose_data_is_not_an_object_is_reported(queued_db, tmp_path, data):
    tasks = ls_tasks(queued_db, tmp_path)
    tasks[0]["data"] = data
    report = import_ls(queued_db, tmp_path, tasks)
    assert report.imported == [2, 3]
    assert report.problems == [f"project.json task 1: data is {json.dumps(data)}, not an object"]


@pytest.mark.parametrize("item_id", [True, 1.0, "٣", None])
def test_an_item_id_that_is_not_a_whole_number_falls_back_to_the_image_name(queued_db, tmp_path, item_id):
    tasks = ls_tasks(queued_db, tmp_path)
    tasks[0]["data"]["item_id"] = item_id  # the image is still .../item-1.jpg
    report = import_ls(queued_db, tmp_path, tasks[:1])
    assert report.imported == [1] and report.problems == []


def test_an_empty_yolo_label_file_is_no_annotation(queued_db, tmp_path):
    folder = yolo_export(queued_db, tmp_path)
    (folder / "labels" / "item-2.txt").write_text("")
    (folder / "labels" / "item-3.txt").write_text("\n  \n")
    report = import_labels(queued_db.db, folder, tmp_path / "labeled", "ann")
    assert report.imported == [1]
    assert report.problems == [
        "labels/item-2.txt: empty label file: item 2 has no annotation; not imported (a frame with no display: segread review skip 2)",
        "labels/item-3.txt: empty label file: item 3 has no annotation; not imported (a frame with no display: segread review skip 3)",
    ]
    assert pending(queued_db.db) == [2, 3]


def test_files_that_start_with_a_utf8_bom_are_read(queued_db, tmp_path):
    folder = yolo_export(queued_db, tmp_path)
    (folder / "data.yaml").unlink()
    (folder / "classes.txt").write_text("\ufeff" + "\n".join(NATURAL) + "\n", encoding="utf-8")
    for label in (folder / "labels").iterdir():
        label.write_text("\ufeff" + relabel_natural(label.read_text()), encoding="utf-8")
    report = import_labels(queued_db.db, folder, tmp_path / "labeled", "ann")
    assert report.imported == [1, 2, 3] and report.problems == []
    assert imported_digits(tmp_path / "labeled", 1) == "0756"


def test_a_label_studio_export_with_a_utf8_bom_is_read(queued_db, tmp_path):
    path = tmp_path / "project.json"
    path.write_text("\ufeff" + json.dumps(ls_tasks(queued_db, tmp_path)), encoding="utf-8")
    report = import_labels(queued_db.db, path, tmp_path / "labeled", "ann")
    assert report.imported == [1, 2, 3] and report.problems == []


def import_cli(queued_db, source, out):
    return main(["review", "--db", str(queued_db.db_path), "import", str(source), "--out", str(out)])


def test_an_empty_zip_is_named_in_the_message(queued_db, tmp_path, capsys):
    source = tmp_path / "cvat.zip"
    zipfile.ZipFile(source, "w").close()
    assert import_cli(queued_db, source, tmp_path / "labeled") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"segread: error: {source}: no label files under labels/") and err.count("\n") == 1


def test_a_truncated_or_corrupt_zip_is_called_damaged(queued_db, tmp_path, capsys):
    whole = export(queued_db.db, tmp_path / "cvat.zip", fmt="cvat").out.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(whole[: len(whole) // 2])
    assert import_cli(queued_db, truncated, tmp_path / "labeled") == 2
    assert f"{truncated}: a damaged or truncated zip" in capsys.readouterr().err

    corrupt = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(corrupt, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("labels/train/item-1.txt", "9 0.5 0.5 0.1 0.1\n" * 20)
    data = bytearray(corrupt.read_bytes())
    data[data.index(b"0.5 0.5")] = ord("7")  # a flipped byte inside the member: its CRC no longer matches
    corrupt.write_bytes(bytes(data))
    assert import_cli(queued_db, corrupt, tmp_path / "labeled") == 2
    assert f"{corrupt}: a damaged or truncated zip (Bad CRC-32" in capsys.readouterr().err

    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    assert import_cli(queued_db, not_zip, tmp_path / "labeled") == 2
    assert f"{not_zip}: not a zip file" in capsys.readouterr().err
    assert pending(queued_db.db) == [1, 2, 3]


def test_import_exits_1_when_nothing_was_imported_and_0_when_some_was(queued_db, tmp_path, capsys):
    folder = yolo_export(queued_db, tmp_path)
    for label in (folder / "labels").iterdir():
        label.write_text("")
    assert import_cli(queued_db, folder, tmp_path / "labeled") == 1
    captured = capsys.readouterr()
    assert "imported 0 item(s)" in captured.out and "3 problem(s)" in captured.out
    assert captured.err.count("has no annotation") == 3

    (folder / "labels" / "item-1.txt").write_text("9 0.5 0.5 0.1 0.2\n")
    assert import_cli(queued_db, folder, tmp_path / "labeled") == 0
    captured = capsys.readouterr()
    assert "imported 1 item(s)" in captured.out and "2 problem(s)" in captured.out


def test_a_label_file_that_is_not_text_is_named(queued_db, tmp_path):
    folder = yolo_export(queued_db, tmp_path)
    (folder / "labels" / "item-1.txt").write_bytes(b"\xff\xfe9 0.5 0.5 0.1 0.1\n")
    report = import_labels(queued_db.db, folder, tmp_path / "labeled", "ann")
    assert report.imported == [2, 3]
    (problem,) = report.problems
    assert problem.startswith("labels/item-1.txt: unreadable label file (") and problem.endswith("item 1 not imported")


def test_a_source_that_is_not_there_is_one_line_and_exit_2(queued_db, tmp_path, capsys):
    # `import --help` promises one line for exit 2; click's check of the path printed its usage too.
    code = main(["review", "--db", str(queued_db.db_path), "import", str(tmp_path / "ls-export.json"),
                 "--out", str(tmp_path / "labeled")])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [f"segread: error: {tmp_path / 'ls-export.json'}: no such file or folder"]
    assert not (tmp_path / "labeled").exists() and {i.status for i in list_items(queued_db.db, "all")} == {"pending"}
