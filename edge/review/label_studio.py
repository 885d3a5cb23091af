"""Reading a task of Label Studio's JSON export (full, or JSON-MIN): its annotation and its boxes.

Exports come from people and tools: a task nobody annotated, a `null` where an object belongs, a
polygon drawn round a digit, an annotation whose boxes were all deleted. None of them is read as
"no digits" (a frame with no display is skipped in the queue, not labelled empty): the importer
reports each, naming the task, and leaves the item as it was.
"""

from __future__ import annotations

import json
import math

from edge.errors import LabelError
from edge.labels import CLASS_NAMES

RECTANGLE = "rectanglelabels"
SIDES = ("x", "y", "width", "height")


def task_data(task: dict, where: str) -> dict:
    """The task's `data` (a JSON-MIN task carries its data fields at the top)."""
    data = task.get("data", task)
    if not isinstance(data, dict):
        raise LabelError(f"{where}: data is {json.dumps(data)}, not an object")
    return data


def task_results(task: dict, where: str) -> list | None:
    """The results of the task's latest annotation that was not cancelled; None when it has none."""
    if "annotations" not in task and "data" in task:
        return None  # a full export's task nobody annotated
    if "annotations" in task:
        annotations = task["annotations"]
        if annotations is None:
            return None
        if not isinstance(annotations, list):
            raise LabelError(f"{where}: annotations is {json.dumps(annotations)[:40]}, not a list")
        done = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
        if annotations and not done and all(isinstance(a, dict) for a in annotations):
            raise LabelError(f"{where}: its annotation was cancelled (skipped in Label Studio)")
        results = done[-1].get("result") if done else None
    else:  # JSON-MIN: the control's name ("label" in segread's config) holds the boxes
        results = task.get("label", next((v for v in task.values() if isinstance(v, list)), None))
    if results is not None and not isinstance(results, list):
        raise LabelError(f"{where}: result is {json.dumps(results)[:40]}, not a list")
    return results


def number(value, where: str, key: str) -> float:
    """A finite JSON number (not a string, not true/false)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LabelError(f"{where}: {key} is {json.dumps(value)[:40]}, not a number (needs numeric x, y, width, height)")
    return float(value)


def rectangle(value: dict, width: int, height: int, where: str) -> dict:
    """One rectanglelabels value (percent of the image) as a pixel box {"digit", "xyxy"}."""
    names = value.get("rectanglelabels")
    if not isinstance(names, list) or len(names) != 1 or str(names[0]) not in CLASS_NAMES:
        raise LabelError(f"{where}: label {names!r} is not one of the digits {', '.join(CLASS_NAMES)}")
    x, y, bw, bh = (number(value.get(key), where, key) for key in SIDES)
    if bw <= 0 or bh <= 0 or not (-1 <= x and -1 <= y and x + bw <= 101 and y + bh <= 101):
        raise LabelError(f"{where}: x, y, width, height must be percentages with positive size")
    rotation = value.get("rotation") or 0
    if number(rotation, where, "rotation") % 360:
        raise LabelError(f"{where}: box is rotated {rotation} degrees; YOLO boxes are upright, draw it unrotated")
    # Percent of the image, so the frame's own size maps them back whatever size Label Studio saw.
    fw, fh = width / 100, height / 100
    box = [x * fw, y * fh, (x + bw) * fw, (y + bh) * fh]
    return {"digit": str(names[0]), "xyxy": [round(c, 1) for c in box]}


def result_kind(result: dict, value: dict) -> str | None:
    """`rectanglelabels`, `polygonlabels`, `choices`...: the result's type, or its labels key (JSON-MIN)."""
    kind = result.get("type")
    if isinstance(kind, str):
        return kind
    return next((key for key in value if isinstance(key, str) and key.endswith("labels")), None)


def boxes(results: list, width: int, height: int, where: str) -> tuple[list[dict], list[str]]:
    """The digit boxes of an annotation's results, and a note for each result that is not a box.

    A digit drawn as anything but a rectangle (polygon, ellipse, brush, keypoint) is refused for
    the whole task: importing the other digits would make a label with one missing."""
    found, shapes, notes = [], [], []
    for k, result in enumerate(results):
        what = f"{where}: box {k}"
        if not isinstance(result, dict):
            raise LabelError(f"{what}: {json.dumps(result)[:40]} is not a result object")
        value = result["value"] if "value" in result else result
        if not isinstance(value, dict):
            raise LabelError(f"{what}: value is {json.dumps(value)[:40]}, not an object")
        kind = result_kind(result, value)
        if kind == RECTANGLE:
            found.append(rectangle(value, width, height, what))
        elif kind and kind.endswith("labels"):
            shapes.append(kind)
        else:
            notes.append(f"{what}: a {kind or 'untyped'} result, not a digit box; ignored")
    if shapes:
        raise LabelError(
            f"{where}: {len(shapes)} of {len(shapes) + len(found)} digit labels are {', '.join(sorted(set(shapes)))}, "
            f"not rectangles; draw each digit as a rectangle"
        )
    return found, notes
