"""Audit a labeled set with a model: the photos whose labels the reader reads otherwise.

A labeled set typed by hand has slips: a 37:57 labeled 30:57, a 36:09 labeled 56:08. Each slip
teaches the model a wrong digit, and each slip in the frozen test split counts a right reading as
wrong. The audit reads every single-row photo alone through the reader (`edge.score.read_alone`,
as the test readings do) and sorts it: the reader accepted the labels' digits (agreed), accepted
other digits (disputed), or held it (unsure). Disputed photos are the ones to look at, most
confident first.

`write_folder` puts the disputed photos and their augmented twins (copies of one photo, as a rule
labeled alike) into a YOLO folder, each labeled with the reader's boxes where the reader disputes
its labels and with its own labels otherwise (a twin the reader held), so a person confirms or
fixes pre-labels in a labeling tool. The fixed `labels/` go back with `--relabel DIR`: a label
file there replaces the label of the labeled photo of the same file name, which keeps its side of
the split (`dataset.apply_relabels`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge.errors import OutputError
from edge.labels import write_classes, write_label_file
from edge.review.items import label_boxes
from trainer import dataset, split


@dataclass(frozen=True)
class Finding:
    """One photo the reader reads otherwise than its labels."""

    image: Path
    side: str  # the photo's side of the split: train, val or test
    labeled: str  # the labels' digits, left to right
    read: str  # the digits the reader accepted
    confidence: float
    boxes: tuple  # the reader's boxes, {"digit", "conf", "xyxy"} in the photo's pixels

    @property
    def places(self) -> list[int]:
        """The places (1 = leftmost) where the labels and the reading differ."""
        return [i + 1 for i, (a, b) in enumerate(zip(self.labeled, self.read)) if a != b]

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(image=str(self.image), places=self.places, confidence=round(self.confidence, 3))
        d.pop("boxes")
        return d


@dataclass
class Audit:
    model: str
    photos: int = 0  # single-row photos read
    agreed: int = 0
    unsure: int = 0  # held by the reader: neither a confirmation nor a dispute
    multi_row: int = 0  # photos of several rows: which row is the reading is not the model's call
    disputed: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what gathering left out
    items: tuple = field(default=(), repr=False)  # every gathered item: the disputed photos' twins are among them

    def as_dict(self) -> dict:
        sides = {s: sum(f.side == s for f in self.disputed) for s in split.SPLITS}
        return {
            "model": self.model, "photos": self.photos, "agreed": self.agreed, "unsure": self.unsure,
            "disputed_count": len(self.disputed), "disputed_by_side": sides, "multi_row_left_out": self.multi_row,
            "disputed": [f.as_dict() for f in self.disputed], "problems": self.problems,
        }


def audit(model, data: list[Path], relabel: list[Path] | None = None, device: str = "cpu",
          min_confidence: float = 0.0) -> Audit:
    """Read every single-row photo of `data` (relabeled by `relabel`) alone with `model` (an ONNX
    path, or a detector); disputed photos come most confident first. A dispute read below
    `min_confidence` counts as unsure."""
    import cv2

    from edge.score import read_alone
    from trainer.evaluate import photo_truth

    gathered = dataset.gather(list(data), relabel=relabel)
    if isinstance(model, (str, Path)):
        from edge.detect import OnnxDetector

        detector, name = OnnxDetector(Path(model), device=device), Path(model).stem
    else:
        detector, name = model, getattr(model, "model_id", "model")
    report = Audit(model=name, problems=[str(p) for p in gathered.problems], items=gathered.items)
    for item in gathered.items:
        truth = photo_truth(item) if item.boxes else None
        if not truth:
            report.multi_row += 1
            continue
        image = cv2.imread(str(item.image))
        if image is None:  # gathered a moment ago: it went away or changed since
            report.problems.append(f"{item.image}: unreadable image")
            continue
        reading = read_alone(detector, image, len(truth))
        report.photos += 1
        if reading.status != "accepted" or reading.confidence < min_confidence:
            report.unsure += 1
        elif reading.text == truth:
            report.agreed += 1
        else:
            report.disputed.append(Finding(item.image, split.side(item.source), truth, reading.text,
                                           float(reading.confidence), tuple(reading.digits.to_list())))
    report.disputed.sort(key=lambda f: -f.confidence)
    return report


def check_out(out: Path, overwrite: bool = False, inputs: list[Path] = ()) -> None:
    """Refuse an --out that is not an empty folder (unless `overwrite`), and one that is, holds or
    lies in a folder the audit reads (`inputs`: --data, --relabel): writing it replaces images/
    and labels/, which would delete the labeled set, or the labels a person checked, it read."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise OutputError(f"{out} is not an empty folder; choose another or pass --overwrite")
    where = out.resolve()
    for folder in inputs:
        read = Path(folder).resolve()
        if where == read or read in where.parents or where in read.parents:
            raise OutputError(f"--out {out} overlaps {folder}, which the audit reads; choose a folder of its own")


def write_folder(report: Audit, out: Path, overwrite: bool = False, inputs: list[Path] = ()) -> int:
    """Write the disputed photos and their twins to `out` (images/, labels/, classes.txt,
    audit.json) as pre-labels to check; returns how many photos were written. `inputs`: the
    folders the audit read, which `out` must stay clear of (`check_out`)."""
    out = Path(out)
    check_out(out, overwrite, inputs)
    by_source: dict[str, list] = {}
    for item in report.items:
        by_source.setdefault(item.source, []).append(item)
    disputed = {f.image.name: f for f in report.disputed}
    written = 0
    try:
        for name in ("images", "labels"):
            shutil.rmtree(out / name, ignore_errors=True)
            (out / name).mkdir(parents=True)
        done: set[str] = set()
        for finding in report.disputed:
            for item in by_source.get(dataset.source_id(finding.image), []):
                if item.image.name in done:
                    continue
                done.add(item.image.name)
                own = disputed.get(item.image.name)
                boxes = label_boxes(list(own.boxes), item.width, item.height) if own else list(item.boxes)
                shutil.copyfile(item.image, out / "images" / item.image.name)
                write_label_file(out / "labels" / f"{item.image.stem}.txt", boxes)
                written += 1
        write_classes(out)
        (out / "audit.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write the audit folder {out}: {exc.strerror or exc}") from None
    return written
