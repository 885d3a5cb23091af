"""Export queue items for labeling tools and for training.

yolo          `images/`, `labels/`, `classes.txt`, `data.yaml` (Ultralytics loads it; with
              `--status answered` it is the labeled folder `segread retrain --data` takes)
label-studio  `tasks.json` with pre-labels as `predictions`, `labeling-config.xml`, `images/`
cvat          a zip in CVAT's "Ultralytics YOLO Detection 1.0" layout

Every file is named `item-<id>`, and Label Studio tasks carry `data.item_id`, so corrected labels
find their item on import. Labels use edge.labels' class mapping. Skipped and thinned items are never
exported; each exported item is stamped, so the queue never thins it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from edge.errors import OutputError, ReviewError
from edge.files import write_atomically
from edge.labels import CLASS_NAMES, write_classes, write_label_file
from edge.review.items import Item, current_labels, label_boxes, list_items
from edge.review.queue import image_path

FORMATS = ("yolo", "label-studio", "cvat")
EXPORT_STATUSES = ("pending", "answered", "all")
# What an export writes into its folder; --overwrite removes these and nothing else.
OWNED = ("images", "labels", "classes.txt", "data.yaml", "tasks.json", "labeling-config.xml", "train.txt")
FROM_NAME, TO_NAME = "label", "image"


@dataclass
class ExportReport:
    out: Path
    exported: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def item_stem(item_id: int) -> str:
    return f"item-{item_id}"


def export_items(db: sqlite_utils.Database, status: str = "all", order: str = "queued") -> list[Item]:
    """Items to export: pending, answered (accepted or fixed), or all but the skipped and thinned; in `order`."""
    if status not in EXPORT_STATUSES:
        raise ReviewError(f"unknown export status {status!r}; choose from {', '.join(EXPORT_STATUSES)}")
    return [i for i in list_items(db, status, order) if i.status not in ("skipped", "thinned")]


def check_folder(out: Path, overwrite: bool) -> None:
    """Refuse a file, or a non-empty folder unless `overwrite` (which replaces only what an export writes)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReviewError(f"{out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ReviewError(f"{out} is not empty; choose an empty folder or pass --overwrite")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def swap_in(staging: Path, out: Path) -> None:
    """Move a finished export from `staging` into the existing folder `out`: what an earlier export
    wrote there is set aside first and put back if a move fails; the person's own files stay."""
    backup = out.parent / f".{out.name}.old.{os.getpid()}"
    backup.mkdir()
    moved_out, moved_in = [], []
    try:
        for name in OWNED:
            if (out / name).exists() or (out / name).is_symlink():
                os.replace(out / name, backup / name)
                moved_out.append(name)
        for entry in sorted(staging.iterdir()):
            os.replace(entry, out / entry.name)
            moved_in.append(entry.name)
    except OSError:
        for name in moved_in:
            _remove(out / name)
        for name in moved_out:
            os.replace(backup / name, out / name)
        backup.rmdir()
        raise
    shutil.rmtree(backup, ignore_errors=True)


def export_folder(db: sqlite_utils.Database, items: list[Item], out: Path, fmt: str, overwrite: bool = False,
                  image_url: str | None = None) -> ExportReport:
    """A yolo or label-studio export, written into a hidden sibling of `out` and then moved into
    place: a full disk or an unwritable folder leaves no half export, and an earlier one intact."""
    out = Path(out)
    check_folder(out, overwrite)
    place = out.resolve()  # beside the real folder, so every move is a rename on one file system
    staging = place.parent / f".{place.name}.part.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        if fmt == "yolo":
            report = export_yolo(db, items, out, staging)
        else:
            report = export_label_studio(db, items, out, image_url, staging)
        if place.is_dir():
            swap_in(staging, place)
        else:
            os.replace(staging, place)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def data_yaml(path: str, train: str, val: str | None) -> str:
    lines = [
        "# segread review export; class index -> digit as in classes.txt",
        f"path: {json.dumps(path)}",
        f"train: {train}",
    ]
    if val:
        lines.append(f"val: {val}")
    # No `nc`: Ultralytics counts the names, and CVAT's importer takes a key it does not know for a
    # subset's list of images, and fails on the number (cvat-ai/cvat#8958).
    lines.append("names:")
    lines += [f"  {i}: '{name}'" for i, name in enumerate(CLASS_NAMES)]
    return "\n".join(lines) + "\n"


def write_pair(db: sqlite_utils.Database, item: Item, labels: list[dict], images: Path, label_dir: Path,
               source: Path | None = None) -> Path:
    """Copy the item's frame to `images/item-<id>.jpg` and write its YOLO label file; returns the image."""
    src = source or image_path(db, item.image)
    if not src.is_file():
        raise ReviewError(f"item {item.id}: image {src} is missing")
    try:
        boxes = label_boxes(labels, item.width, item.height)  # before any file: a bad label leaves no orphan image
    except ReviewError as exc:
        raise ReviewError(f"item {item.id}: {exc}; left out (answer it again: segread review fix {item.id} DIGITS)") from None
    images.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    target = images / f"{item_stem(item.id)}{src.suffix.lower() or '.jpg'}"
    label = label_dir / f"{item_stem(item.id)}.txt"
    try:
        shutil.copyfile(src, target)
        write_label_file(label, boxes)
    except OSError:  # a full disk: no image without its label (or half a label) is left behind
        target.unlink(missing_ok=True)
        label.unlink(missing_ok=True)
        raise
    return target


def _pairs(db, items: list[Item], images: Path, labels: Path, report: ExportReport) -> list[tuple[Item, Path]]:
    written = []
    for item in items:
        try:
            written.append((item, write_pair(db, item, current_labels(db, item), images, labels)))
            report.exported.append(item.id)
        except ReviewError as exc:
            report.problems.append(str(exc))
    return written


def export_yolo(db: sqlite_utils.Database, items: list[Item], out: Path, staging: Path | None = None) -> ExportReport:
    """Files go to `staging` (default `out`); data.yaml names `out`, where they will be used."""
    out = Path(out)
    to = Path(staging or out)
    report = ExportReport(out)
    _pairs(db, items, to / "images", to / "labels", report)
    write_classes(to)
    (to / "data.yaml").write_text(data_yaml(str(out.resolve()), "images", "images"))
    return report


def labeling_config() -> str:
    """Label Studio labeling config matching the tasks: one RectangleLabels with the ten digits."""
    labels = "\n".join(f'    <Label value="{name}"/>' for name in CLASS_NAMES)
    return (
        "<View>\n"
        f'  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
        f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}\n  </RectangleLabels>\n'
        "</View>\n"
    )


def ls_result(boxes: list[dict], width: int, height: int, prefix: str) -> list[dict]:
    """Pixel boxes as Label Studio rectanglelabels results (x, y, width, height in percent)."""
    results = []
    for k, b in enumerate(boxes):
        x1, y1, x2, y2 = (float(v) for v in b["xyxy"])
        x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
        y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
        result = {
            "id": f"{prefix}-{k}", "type": "rectanglelabels", "from_name": FROM_NAME, "to_name": TO_NAME,
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {
                "x": 100.0 * x1 / width, "y": 100.0 * y1 / height,
                "width": 100.0 * (x2 - x1) / width, "height": 100.0 * (y2 - y1) / height,
                "rotation": 0, "rectanglelabels": [str(b["digit"])],
            },
        }
        if "conf" in b:
            result["score"] = float(b["conf"])
        results.append(result)
    return results


def export_label_studio(db: sqlite_utils.Database, items: list[Item], out: Path, image_url: str | None = None,
                        staging: Path | None = None) -> ExportReport:
    """`image_url`: prefix for the image file names; default Label Studio's local-files URL of the
    path the image will have in `out` (files go to `staging`, default `out`)."""
    out = Path(out)
    to = Path(staging or out)
    report = ExportReport(out)
    tasks = []
    for item, image in _pairs(db, items, to / "images", to / "labels", report):
        if image_url:
            url = image_url.rstrip("/") + "/" + image.name
        else:
            url = "/data/local-files/?d=" + str(out.resolve() / "images" / image.name).lstrip("/")
        confidences = [b.get("conf", 1.0) for b in item.prelabels]
        tasks.append({
            "data": {"image": url, "item_id": item.id, "frame": item.frame, "read": item.text,
                     "reasons": item.reasons, "suggestion": item.suggestion},
            "predictions": [{
                "model_version": item.model or "unknown",
                "score": float(min(confidences)) if confidences else 0.0,
                "result": ls_result(item.prelabels, item.width, item.height, f"item{item.id}"),
            }],
        })
    shutil.rmtree(to / "labels", ignore_errors=True)  # Label Studio takes tasks.json; labels live there
    (to / "tasks.json").write_text(json.dumps(tasks, indent=1))
    (to / "labeling-config.xml").write_text(labeling_config())
    return report


def export_cvat(db: sqlite_utils.Database, items: list[Item], out: Path, overwrite: bool = False) -> ExportReport:
    """A zip file at `out` (".zip" added when missing) in CVAT's Ultralytics YOLO Detection 1.0 layout."""
    out = Path(out)
    if out.suffix.lower() != ".zip":
        out = out.with_name(out.name + ".zip")
    if out.exists() and not overwrite:
        raise ReviewError(f"{out} exists; choose another name or pass --overwrite")
    report = ExportReport(out)
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        written = _pairs(db, items, staging / "images" / "train", staging / "labels" / "train", report)
        (staging / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (staging / "images" / "train").mkdir(parents=True, exist_ok=True)
        (staging / "train.txt").write_text("".join(f"images/train/{img.name}\n" for _, img in written))
        (staging / "data.yaml").write_text(data_yaml("./", "train.txt", None))
        out.parent.mkdir(parents=True, exist_ok=True)

        def zip_staging(tmp: Path) -> None:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(staging.rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(staging).as_posix())

        write_atomically(out, zip_staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def export(db: sqlite_utils.Database, out: Path, fmt: str = "yolo", status: str = "all",
           overwrite: bool = False, image_url: str | None = None, order: str = "queued") -> ExportReport:
    """Export the queue's items with `status` in `fmt` to `out` (a folder; a zip file for cvat), in
    `order` (Label Studio lists its tasks in the order of tasks.json)."""
    if fmt not in FORMATS:
        raise ReviewError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    items = export_items(db, status, order)
    try:
        if fmt == "cvat":
            report = export_cvat(db, items, out, overwrite)
        else:
            report = export_folder(db, items, out, fmt, overwrite, image_url)
    except OSError as exc:  # no permission, no space: nothing was exported
        raise OutputError(f"cannot write the export to {out}: {exc.strerror or exc}; nothing exported") from None
    mark_exported(db, report.exported)
    return report


def mark_exported(db: sqlite_utils.Database, item_ids: list[int]) -> None:
    """Stamp exported items: a person may be labeling them in a tool, so the queue never thins them."""
    with db.atomic():
        db.conn.executemany("UPDATE review_items SET exported = ? WHERE id = ?", [(time.time(), i) for i in item_ids])
