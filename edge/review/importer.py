"""Import corrected labels: a YOLO folder (or a CVAT Ultralytics YOLO zip), CVAT's own XML export
(CVAT for images 1.1, or its zip) or a Label Studio JSON export.

Items are found by the id that survived the round trip: file stems `item-<id>`, Label Studio's
`data.item_id`. Each imported item gets a decision row (accepted when the labels equal the
pre-labels, fixed otherwise) and becomes an `images/` + `labels/` pair in `out`, the labeled
folder `segread retrain --data` takes. Unknown ids, bad lines, missing images and items nobody
annotated (an empty label file, a task without an annotation) are reported one by one and those
items left as they were; everything else is imported. A YOLO source's class ids are read through
its own names file (edge.classnames).
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from edge.classnames import class_digits, names_files
from edge.errors import LabelError, OutputError, ReviewError
from edge.labels import IMAGE_SUFFIXES, LabelBox, parse_label_line, write_classes
from edge.review import label_studio
from edge.review.cvat_xml import read_images
from edge.review.export import write_pair
from edge.review.items import ASCII_DIGITS, Item, answerable, decide, get_item, same_labels

STEM = re.compile(r"(?:^|[^A-Za-z0-9])item-([0-9]+)$")  # \d would take '٣', which int() reads as 3


@dataclass
class ImportReport:
    out: Path
    imported: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def item_id_from_name(name: str) -> int | None:
    """`item-12` from `item-12.txt`, `images/item-12.jpg` or Label Studio's `a1b2c3d4-item-12.jpg`."""
    m = STEM.search(Path(name).stem)
    return int(m.group(1)) if m else None


def _item(db, item_id: int | None, where: str, report: ImportReport) -> Item | None:
    if item_id is None:
        report.problems.append(f"{where}: no item id (expected a name like item-12 or data.item_id)")
        return None
    try:
        item = get_item(db, item_id)
    except ReviewError:
        report.problems.append(f"{where}: unknown item id {item_id}")
        return None
    try:
        return answerable(item)
    except ReviewError as exc:
        report.problems.append(f"{where}: {exc}")
        return None


def _apply(db, item: Item, labels: list[dict], out: Path, who: str, source: Path | None, where: str,
           report: ImportReport) -> None:
    """Write the item's labeled pair, then record the decision (no decision without its files)."""
    frame = None
    for candidate in (None, source):  # the queue's own frame first, then the one beside the labels
        try:
            frame = write_pair(db, item, labels, out / "images", out / "labels", candidate)
            break
        except ReviewError:
            continue
        except OSError as exc:  # a full disk: the items before it stay imported, this one undecided
            raise OutputError(f"cannot write item {item.id}'s labeled pair under {out}: {exc.strerror or exc}; "
                              f"{len(report.imported)} item(s) imported before it") from None
    if frame is None:
        report.problems.append(f"{where}: item {item.id}: image missing (neither the queued frame nor one beside the labels)")
        return
    status = "accepted" if same_labels(labels, item.prelabels) else "fixed"
    digits = "".join(b["digit"] for b in sorted(labels, key=lambda b: b["xyxy"][0]))
    decide(db, item.id, "import", status, who, labels, digits)
    report.imported.append(item.id)


def _pixels(boxes: list[LabelBox], item: Item, digits: tuple[str, ...]) -> list[dict]:
    """Label lines as pixel boxes; `digits[cls]` is the digit class `cls` means in the source."""
    return [{"digit": digits[b.cls], "xyxy": [round(v, 1) for v in b.to_xyxy(item.width, item.height)]} for b in boxes]


def in_label_folder(path: Path) -> bool:
    """Whether `path` (relative to a YOLO folder) lies in a folder of label files: `labels/`
    (segread's, Ultralytics', CVAT's Ultralytics YOLO `labels/train/`) or CVAT's YOLO 1.1
    `obj_<subset>_data/`."""
    return any(part == "labels" or (part.startswith("obj_") and part.endswith("_data")) for part in path.parts[:-1])


def import_yolo(db: sqlite_utils.Database, folder: Path, out: Path, who: str, shown: str | None = None) -> ImportReport:
    """A YOLO folder: `labels/**/item-<id>.txt` with images under `images/` (CVAT's `*/train/` too),
    or CVAT's YOLO 1.1 `obj_train_data/item-<id>.txt` with its images beside them, class ids read
    through the folder's own names file (classes.txt, obj.names, data.yaml). `shown` names the
    source in messages (the zip a temporary folder was unpacked from)."""
    folder, report = Path(folder), ImportReport(Path(out))
    names = set(names_files(folder))
    label_files = sorted(p for p in folder.rglob("*.txt") if in_label_folder(p.relative_to(folder)) and p not in names)
    if not label_files:
        raise ReviewError(f"{shown or folder}: no label files under labels/ or obj_train_data/ (expected a YOLO folder "
                          "from segread review export, or CVAT's YOLO export)")
    digits = class_digits(folder, shown)
    images = {p.stem: p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    report.out.mkdir(parents=True, exist_ok=True)
    write_classes(report.out)
    for path in label_files:
        where = str(path.relative_to(folder))
        item = _item(db, item_id_from_name(path.name), where, report)
        if item is None:
            continue
        try:
            text = path.read_text(encoding="utf-8-sig")  # Windows tools start files with a BOM
            boxes = [parse_label_line(line, f"{where}:{n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        except LabelError as exc:
            report.problems.append(f"{exc}; item {item.id} not imported")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            report.problems.append(f"{where}: unreadable label file ({exc}); item {item.id} not imported")
            continue
        if not boxes:  # CVAT writes an empty file for every frame nobody annotated
            report.problems.append(f"{where}: empty label file: item {item.id} has no annotation; not imported "
                                   f"(a frame with no display: segread review skip {item.id})")
            continue
        _apply(db, item, _pixels(boxes, item, digits), report.out, who, images.get(path.stem), where, report)
    return report


def task_item_id(data: dict) -> int | None:
    """`data.item_id` (a number, or a string of ASCII digits), else the id in the image's name."""
    raw = data.get("item_id")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and ASCII_DIGITS.fullmatch(raw.strip()):
        return int(raw)
    image = data.get("image")
    return item_id_from_name(image) if isinstance(image, str) else None


def _ls_task(db, task: dict, where: str, out: Path, who: str, report: ImportReport) -> None:
    """Import one task's latest annotation, or report why not and leave its item as it was."""
    try:
        item_id = task_item_id(label_studio.task_data(task, where))
    except LabelError as exc:
        report.problems.append(str(exc))
        return
    item = _item(db, item_id, where, report)
    if item is None:
        return
    try:
        results = label_studio.task_results(task, where)
        if results is None:
            report.problems.append(f"{where}: item {item.id} has no annotation; not imported")
            return
        labels, notes = label_studio.boxes(results, item.width, item.height, where)
    except LabelError as exc:
        report.problems.append(f"{exc}; item {item.id} not imported")
        return
    report.problems += notes
    if not labels:  # every box deleted: as CVAT's empty file, not a label of no digits
        report.problems.append(f"{where}: item {item.id}'s annotation has no digit boxes; not imported "
                               f"(a frame with no display: segread review skip {item.id})")
        return
    _apply(db, item, labels, out, who, None, where, report)


def import_label_studio(db: sqlite_utils.Database, path: Path, out: Path, who: str) -> ImportReport:
    """Label Studio's JSON export (full, or JSON-MIN): the latest annotation of each task that is not cancelled."""
    path, report = Path(path), ImportReport(Path(out))
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReviewError(f"{path}: not a Label Studio JSON export ({exc})") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise ReviewError(f"{path}: expected a list of tasks")
    report.out.mkdir(parents=True, exist_ok=True)
    write_classes(report.out)
    for n, task in enumerate(tasks):
        where = f"{path.name} task {task.get('id', n) if isinstance(task, dict) else n}"
        if not isinstance(task, dict):
            report.problems.append(f"{where}: not a task object")
            continue
        _ls_task(db, task, where, report.out, who, report)
    return report


def import_cvat_xml(db: sqlite_utils.Database, path: Path, out: Path, who: str, shown: str | None = None) -> ImportReport:
    """CVAT for images 1.1: `annotations.xml`, the frames beside it under `images/` (its zip's);
    boxes in pixels of the image as CVAT had it, scaled to the queued frame. An image nobody
    annotated, a shape other than an upright box, or a label that is no digit is reported and its
    item left as it was. `shown` names the source in messages (the zip it was unpacked from)."""
    path, report = Path(path), ImportReport(Path(out))
    images = read_images(path)
    if not images:
        raise ReviewError(f"{shown or path}: no <image> in its annotations")
    folder = path.parent / "images"
    files = {p.stem: p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES} if folder.is_dir() else {}
    report.out.mkdir(parents=True, exist_ok=True)
    write_classes(report.out)
    for found in images:
        item = _item(db, item_id_from_name(found.name), found.where, report)
        if item is None:
            continue
        if found.problem:
            report.problems.append(f"{found.problem}; item {item.id} not imported")
            continue
        if not found.boxes:
            report.problems.append(f"{found.where}: item {item.id} has no annotation; not imported "
                                   f"(a frame with no display: segread review skip {item.id})")
            continue
        sx, sy = item.width / found.width, item.height / found.height
        labels = [{"digit": b["digit"], "xyxy": [round(v * k, 1) for v, k in zip(b["xyxy"], (sx, sy, sx, sy))]}
                  for b in found.boxes]
        _apply(db, item, labels, report.out, who, files.get(Path(found.name).stem), found.where, report)
    return report


def zip_damage(source: Path) -> str:
    """Why `source` (named .zip) cannot be opened: a zip cut short, or no zip at all."""
    try:
        with open(source, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if head == b"PK\x03\x04":  # starts as a zip, but its directory at the end is missing
        return "a damaged or truncated zip (download or copy it again)"
    return "not a zip file"


def unzip(source: Path, folder: Path) -> None:
    """Unpack the zip `source` into `folder`; ReviewError naming it when it is unsafe or damaged."""
    try:
        with zipfile.ZipFile(source) as zf:
            for name in zf.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    raise ReviewError(f"{source}: unsafe path {name!r} in the zip")
            zf.extractall(folder)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ReviewError(f"{source}: a damaged or truncated zip ({exc})") from None


def import_labels(db: sqlite_utils.Database, source: Path, out: Path, who: str) -> ImportReport:
    """A YOLO folder, a CVAT zip (Ultralytics YOLO, or CVAT for images with its annotations.xml),
    CVAT's annotations .xml, or a Label Studio .json export."""
    source = Path(source)
    if not source.exists():
        raise ReviewError(f"{source}: no such file or folder")
    if source.is_dir():
        return import_yolo(db, source, out, who)
    if source.suffix.lower() == ".json":
        return import_label_studio(db, source, out, who)
    if source.suffix.lower() == ".xml":
        return import_cvat_xml(db, source, out, who)
    if source.suffix.lower() == ".zip":
        if not zipfile.is_zipfile(source):
            raise ReviewError(f"{source}: {zip_damage(source)}")
        with tempfile.TemporaryDirectory() as tmp:
            unzip(source, Path(tmp))
            if (Path(tmp) / "annotations.xml").is_file():
                return import_cvat_xml(db, Path(tmp) / "annotations.xml", out, who, str(source))
            return import_yolo(db, Path(tmp), out, who, str(source))
    raise ReviewError(f"{source}: not a YOLO folder, a .zip, a CVAT .xml or a Label Studio .json export")
