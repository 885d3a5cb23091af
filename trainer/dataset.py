"""Gather YOLO-format folders (`images/`, `labels/`) into one checked list of labeled items.

Every defect is reported by file and line and the item is left out, never silently: a bad line
leaves its whole image out, because training on an image with one digit unlabeled teaches the
model to miss that digit.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from edge.capture import read_image
from edge.classnames import class_digits
from edge.errors import DatasetError, LabelError
from edge.labels import CLASS_NAMES, DIGIT_TO_CLASS, IMAGE_SUFFIXES, LabelBox, parse_label_line

log = logging.getLogger(__name__)

# Roboflow exports name augmented copies `<source>_jpg.rf.<hash>.jpg`; twins share `<source>`.
_TWIN = re.compile(r"^(?P<source>.+?)_(?:jpe?g|png|bmp|webp)\.rf\.[0-9a-fA-F]+$", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """One labeled image: where it is, its boxes, its size, and the photo it came from."""

    image: Path
    boxes: tuple[LabelBox, ...]
    source: str
    width: int
    height: int
    label: Path | None = None

    @property
    def classes(self) -> set[int]:
        return {b.cls for b in self.boxes}


@dataclass(frozen=True)
class Problem:
    """A defect found while gathering: the file, the line (0 for the whole file), and what is wrong."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Dataset:
    items: tuple[Item, ...]
    problems: tuple[Problem, ...]
    relabeled: tuple[str, ...] = ()  # image names whose labels a --relabel folder replaced

    @property
    def class_counts(self) -> dict[str, int]:
        counts = {name: 0 for name in CLASS_NAMES}
        for item in self.items:
            for box in item.boxes:
                counts[box.digit] += 1
        return counts


def source_id(path: str | Path) -> str:
    """`<source>_jpg.rf.<hash>.jpg` -> `<source>`; any other name -> its stem."""
    stem = Path(path).stem
    match = _TWIN.match(stem)
    return match.group("source") if match else stem


def read_labels(path: Path, num_classes: int = len(CLASS_NAMES)) -> tuple[list[LabelBox], list[Problem]]:
    """All boxes of a label file and every bad line in it (not just the first)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # Windows tools start files with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(Path(path), 0, f"unreadable label file ({exc})")]
    boxes, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            boxes.append(parse_label_line(line, "", num_classes))
        except LabelError as exc:
            problems.append(Problem(Path(path), number, str(exc).removeprefix(": ")))
    return boxes, problems


# A JPEG ends with the end-of-image marker; some cameras pad the file after it with these bytes.
def images_by_stem(images_dir: Path) -> tuple[dict[str, Path], list[Problem]]:
    """{stem: image}, with every image that shares its stem with another reported and left out:
    one label file cannot say which of `X.jpg` and `X.png` it labels, and keeping either one would
    train it under a label that may be the other's."""
    found: dict[str, list[Path]] = {}
    for path in sorted(images_dir.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            found.setdefault(path.stem, []).append(path)
    images, problems = {}, []
    for stem, paths in found.items():
        if len(paths) == 1:
            images[stem] = paths[0]
            continue
        names = ", ".join(p.name for p in paths)
        which = "both" if len(paths) == 2 else "all"
        problems.extend(Problem(p, 0, f"images share the stem {stem}: {names}; {which} left out") for p in paths)
    return images, problems


def gather_folder(folder: Path, allow_background: bool = False, option: str | None = None) -> Dataset:
    """Check one `images/` + `labels/` folder; keep the good items, report the rest. `option`
    (e.g. "--corrections") names where the folder was given, in the error for a folder that is
    not a labeled one."""
    folder = Path(folder)
    images_dir, labels_dir = folder / "images", folder / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        where = f"{option} {folder}" if option else str(folder)
        raise DatasetError(f"{where}: not a labeled folder (needs images/ and labels/)")
    to_project = project_classes(folder)
    images, problems = images_by_stem(images_dir)
    labels = {p.stem: p for p in sorted(labels_dir.glob("*.txt"))}
    items = []
    shared = {p.path.stem for p in problems}
    for stem in sorted(set(labels) - set(images) - shared):
        problems.append(Problem(labels[stem], 0, "label file without an image"))
    for stem, image_path in images.items():
        label_path = labels.get(stem)
        if label_path is None and not allow_background:
            problems.append(Problem(image_path, 0, "image without a label file"))
            continue
        boxes, bad = read_labels(label_path) if label_path else ([], [])
        if bad:
            problems.extend(bad)
            continue
        if not boxes and not allow_background:
            problems.append(Problem(label_path, 0, "empty label file (no digits)"))
            continue
        image, why = read_image(image_path)
        if image is None:
            problems.append(Problem(image_path, 0, f"unreadable image: {why}"))
            continue
        h, w = image.shape[:2]
        boxes = [replace(b, cls=to_project[b.cls]) for b in boxes]
        items.append(Item(image_path, tuple(boxes), source_id(image_path), w, h, label_path))
    return Dataset(tuple(items), tuple(problems))


def project_classes(folder: Path) -> list[int]:
    """The project's class id for each class id of the labels in `folder`, through the folder's own
    names file (classes.txt, obj.names, data.yaml): a set labeled with the names 0..9 in that order
    means a zero by class 0, where the project (and the shared set) means a one. Without a names
    file, the project's order."""
    try:
        digits = class_digits(folder)
    except LabelError as exc:
        raise DatasetError(str(exc)) from None
    return [DIGIT_TO_CLASS[d] for d in digits]


def apply_relabels(items: list[Item], folders: list[Path]) -> tuple[list[Item], list[Problem], list[str]]:
    """Replace labels from `folders` (each with `labels/`, e.g. an audit's folder once checked):
    `labels/<stem>.txt` replaces the label of the item whose image is `<stem>.*`. The item keeps its
    image, source and so its side of the split. A bad line leaves the photo out (its old label is
    the one in doubt); a label file that names no labeled photo is reported. Returns (items,
    problems, the image names relabeled)."""
    by_stem: dict[str, list[int]] = {}
    for n, item in enumerate(items):
        by_stem.setdefault(item.image.stem, []).append(n)
    items, problems, done, dropped = list(items), [], [], set()
    for folder in folders:
        labels_dir = Path(folder) / "labels"
        if not labels_dir.is_dir():
            raise DatasetError(f"--relabel {folder}: no labels/ folder in it")
        to_project = project_classes(Path(folder))
        for path in sorted(labels_dir.glob("*.txt")):
            targets = by_stem.get(path.stem)
            if not targets:
                problems.append(Problem(path, 0, "relabel for no labeled photo of that name"))
                continue
            boxes, bad = read_labels(path)
            if not bad and not boxes:
                bad = [Problem(path, 0, "empty label file (no digits)")]
            if bad:
                problems.extend(bad)
                dropped.update(targets)
                continue
            boxes = tuple(replace(b, cls=to_project[b.cls]) for b in boxes)
            for n in targets:
                items[n] = replace(items[n], boxes=boxes, label=path)
                done.append(items[n].image.name)
    return [item for n, item in enumerate(items) if n not in dropped], problems, done


def gather(folders: list[Path], allow_background: bool = False, relabel: list[Path] | None = None,
           option: str = "--data") -> Dataset:
    """Gather several labeled folders into one set, with labels replaced from `relabel` folders;
    log a warning per problem. `option` is the command line option the folders came from, named
    in the errors: a user who gave both --data and --corrections sees which one is wrong."""
    if not folders:
        raise DatasetError(f"no labeled folder given (use {option} DIR)")
    items, problems = [], []
    for folder in folders:
        if not Path(folder).exists():
            raise DatasetError(f"{option} {folder}: labeled folder not found")
        part = gather_folder(Path(folder), allow_background, option)
        items.extend(part.items)
        problems.extend(part.problems)
    relabeled: list[str] = []
    if relabel:
        items, bad, relabeled = apply_relabels(items, list(relabel))
        problems.extend(bad)
        log.info("relabeled %d photo(s) from %s", len(relabeled), ", ".join(map(str, relabel)))
    for problem in problems:
        log.warning("left out: %s", problem)
    return Dataset(tuple(items), tuple(problems), tuple(relabeled))


def require_trainable(dataset: Dataset, min_classes: int = 2) -> None:
    """Stop with a one-line error when there is nothing worth training on."""
    if not any(item.boxes for item in dataset.items):
        raise DatasetError(f"no usable labeled images ({len(dataset.problems)} problems reported)")
    present = [name for name, n in dataset.class_counts.items() if n]
    if len(present) < min_classes:
        raise DatasetError(f"the labeled set has only {len(present)} digit class(es) ({', '.join(present)}); need {min_classes}+")


def fingerprint(items: list[Item] | tuple[Item, ...]) -> str:
    """sha256 over every image's and label's bytes, in a fixed order: the data a model saw."""
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda i: (i.source, i.image.name)):
        digest.update(item.image.name.encode())
        digest.update(hashlib.sha256(item.image.read_bytes()).digest())
        digest.update("".join(b.to_line() + "\n" for b in item.boxes).encode())
    return digest.hexdigest()
