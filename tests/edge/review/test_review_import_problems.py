"""Bad input to `segread review import`: each problem is reported by name and nothing is guessed."""

import json

from edge.review.export import export
from edge.review.importer import import_labels
from edge.review.items import list_items


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
