"""CVAT's own export, "CVAT for images 1.1": `annotations.xml`, alone or in its zip beside `images/`.

CVAT offers it first when a task is exported, so a reviewer who corrected the queue's pre-labels
there (uploaded as the Ultralytics YOLO zip `segread review export --format cvat` writes) may well
bring it back in this form. Each `<image>` names its file, where the item's id is; each `<box>` is a
digit by its label, in pixels of the image as CVAT had it (`width`, `height` on the image).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import ReviewError

DIGITS = frozenset("0123456789")
OTHER_SHAPES = ("polygon", "polyline", "points", "mask", "cuboid", "ellipse", "skeleton")


@dataclass
class CvatImage:
    """One `<image>`: its file name, its digit boxes in pixels of that image, and why it cannot be
    imported (`problem`), if so. No boxes and no problem: nobody annotated it."""

    name: str
    where: str
    width: float
    height: float
    boxes: list[dict] = field(default_factory=list)
    problem: str | None = None


def _box(shape: ET.Element, where: str) -> dict:
    """A `<box>` as {"digit", "xyxy"}; ValueError saying what is wrong with it."""
    label = (shape.get("label") or "").strip()
    if label not in DIGITS:
        raise ValueError(f"{where}: a box labeled {label!r}, not a digit 0-9 (the task's labels must be the ten digits)")
    try:
        xyxy = [float(shape.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]
        rotation = float(shape.get("rotation") or 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: a box whose corners are not numbers") from None
    if rotation % 360:
        raise ValueError(f"{where}: a box turned {rotation:g} degrees; draw it upright")
    return {"digit": label, "xyxy": xyxy}


def _image(image: ET.Element, source: Path) -> CvatImage:
    name = image.get("name") or ""
    where = f"{source.name} image {name or image.get('id', '?')}"
    try:
        width, height = float(image.get("width")), float(image.get("height"))
    except (TypeError, ValueError):
        return CvatImage(name, where, 0, 0, problem=f"{where}: no width and height")
    found = CvatImage(name, where, width, height)
    for shape in image:
        if shape.tag in OTHER_SHAPES:
            found.problem = f"{where}: a digit drawn as a {shape.tag}, where a box was expected"
            return found
        if shape.tag != "box":
            continue  # a tag on the whole image says nothing of its digits
        try:
            found.boxes.append(_box(shape, where))
        except ValueError as exc:
            found.problem = str(exc)
            return found
    return found


def read_images(path: Path) -> list[CvatImage]:
    """Every `<image>` of a CVAT for images XML file; ReviewError when it is no such file (a video
    task's tracks, a file that is no XML)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ReviewError(f"{path}: not a CVAT XML export ({exc})") from None
    if root.tag != "annotations":
        raise ReviewError(f"{path}: not a CVAT XML export (its root is <{root.tag}>, not <annotations>)")
    if root.find("track") is not None:
        raise ReviewError(f"{path}: a CVAT for video export (tracks); export the task as CVAT for images")
    return [_image(image, path) for image in root.iter("image")]
