"""Queue items and the decisions a person makes on them: accept, fix, skip, import.

A decision is a new row in `review_decisions`; an item's pre-labels are never changed. The labels
an item has now are those of its latest labeling decision, or its pre-labels before one.
"""

from __future__ import annotations

import getpass
import json
import re
import sqlite3
import time
from dataclasses import dataclass

import numpy as np
import sqlite_utils

from edge.detections import box_iou
from edge.errors import ReviewError, StoreError
from edge.labels import DIGIT_TO_CLASS, LabelBox
from edge.reading import DisplayFormat
from edge.review.suggest import SEPARATOR
from edge.store import SQLITE_IDS

STATUSES = ("pending", "accepted", "fixed", "skipped", "thinned")  # thinned: dropped to keep a full hour's queue spread
ANSWERED = ("accepted", "fixed")
STATUS_CHOICES = ("pending", "answered", "all") + STATUSES[1:]
ASCII_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Item:
    id: int
    created: float
    session_id: int | None
    t: float | None
    frame: str
    image: str
    width: int
    height: int
    model: str
    reasons: str
    prelabels: list
    text: str | None
    status_read: str | None
    format: str | None
    suggestion: str | None
    status: str
    phash: str | None

    @classmethod
    def from_row(cls, row: dict) -> "Item":
        values = dict(row)
        values["prelabels"] = json.loads(values["prelabels"] or "[]")
        return cls(**{k: values.get(k) for k in cls.__dataclass_fields__})

    @property
    def display(self) -> DisplayFormat:
        try:
            return DisplayFormat.parse(self.format or "time")
        except ValueError:
            return DisplayFormat.parse("time")

    @property
    def suggestions(self) -> list[str]:
        return self.suggestion.split(SEPARATOR) if self.suggestion else []


def who_default() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def get_item(db: sqlite_utils.Database, item_id: int) -> Item:
    rows = list(db.query("SELECT * FROM review_items WHERE id = ?", [item_id])) if item_id in SQLITE_IDS else []
    if not rows:
        raise ReviewError(f"no review item {item_id} (see `segread review list --status all`)")
    return Item.from_row(rows[0])


ORDERS = ("queued", "spread")


def default_order(status: str) -> str:
    """What a person works through first: the pending items spread across the queue (a few answers
    then cover the whole session, not its first bad minute); any other listing in queue order."""
    return "spread" if status == "pending" else "queued"


def spread(items: list[Item]) -> list[Item]:
    """`items` (in queue order) reordered so that the first k of them, for any k, lie evenly across
    the queue: its middle first, then the middles of the two halves, and so on.

    A person answers the head of the queue. A bad stretch of a session fills the queue with
    neighbouring frames showing much the same digits: answered in queue order, 40 answers of
    run3 under "night" covered its first minute and lifted it from 92 to 139 right of 200. The
    same number of frames picked at random lifted it to 185 (`bench/review_loop.py`)."""
    order, spans = [], [(0, len(items))]
    while spans:
        wider = []
        for lo, hi in spans:
            if lo < hi:
                mid = (lo + hi) // 2
                order.append(mid)
                wider += [(lo, mid), (mid + 1, hi)]
        spans = wider
    return [items[i] for i in order]


def list_items(db: sqlite_utils.Database, status: str = "pending", order: str = "queued") -> list[Item]:
    """Items with `status`: one of STATUSES, "answered" (accepted or fixed), or "all"; in the order
    they were queued, or `spread` across the queue (`order="spread"`; `default_order` is what the
    CLI shows a person)."""
    if status == "all":
        where, args = "1", []
    elif status == "answered":
        where, args = "status IN (?, ?)", list(ANSWERED)
    elif status in STATUSES:
        where, args = "status = ?", [status]
    else:
        raise ReviewError(f"unknown status {status!r}; choose from {', '.join(STATUS_CHOICES)}")
    if order not in ORDERS:
        raise ReviewError(f"unknown order {order!r}; choose from {', '.join(ORDERS)}")
    items = [Item.from_row(r) for r in db.query(f"SELECT * FROM review_items WHERE {where} ORDER BY id", args)]
    return spread(items) if order == "spread" else items


def decisions(db: sqlite_utils.Database, item_id: int) -> list[dict]:
    rows = db.query("SELECT * FROM review_decisions WHERE item_id = ? ORDER BY id", [item_id])
    return [dict(r, labels=json.loads(r["labels"]) if r["labels"] else None) for r in rows]


def current_labels(db: sqlite_utils.Database, item: Item) -> list[dict]:
    """The latest labeling decision's boxes, or the pre-labels before any."""
    row = db.execute(
        "SELECT labels FROM review_decisions WHERE item_id = ? AND labels IS NOT NULL ORDER BY id DESC LIMIT 1",
        [item.id],
    ).fetchone()
    return json.loads(row[0]) if row else item.prelabels


def label_boxes(labels: list[dict], width: int, height: int) -> list[LabelBox]:
    """Pixel boxes {"digit", "xyxy"} as YOLO label lines of the project's class mapping.

    Raises ReviewError for a box whose digit has no class (a label stored before `fix` checked
    its input), so one bad item is reported rather than ending an export halfway."""
    boxes = []
    for b in labels:
        digit = str(b.get("digit")) if isinstance(b, dict) else repr(b)
        if digit not in DIGIT_TO_CLASS:
            raise ReviewError(f"label {digit!r} is not one of the digits 0-9")
        try:
            boxes.append(LabelBox.from_xyxy(DIGIT_TO_CLASS[digit], b["xyxy"], width, height))
        except (KeyError, TypeError, ValueError):
            raise ReviewError(f"label {digit!r} has no pixel box x1 y1 x2 y2") from None
    return boxes


def left_to_right(labels: list[dict]) -> list[dict]:
    return sorted(labels, key=lambda b: (b["xyxy"][0] + b["xyxy"][2]) / 2)


def same_labels(a: list[dict], b: list[dict], min_iou: float = 0.8) -> bool:
    """Same digits left to right on boxes that overlap by at least `min_iou`."""
    a, b = left_to_right(a), left_to_right(b)
    if len(a) != len(b):
        return False
    if [x["digit"] for x in a] != [x["digit"] for x in b]:
        return False
    if not a:
        return True
    ious = box_iou(np.array([x["xyxy"] for x in a], float), np.array([x["xyxy"] for x in b], float))
    return bool(np.all(np.diag(ious) >= min_iou))


def decide(
    db: sqlite_utils.Database, item_id: int, action: str, status: str, who: str,
    labels: list[dict] | None = None, digits: str | None = None,
) -> None:
    """Record one decision and the item's new status in one transaction: StoreError, with neither
    stored, when it cannot be written."""
    try:
        with db.atomic():
            db["review_decisions"].insert(
                {"item_id": item_id, "action": action, "digits": digits,
                 "labels": json.dumps(labels) if labels is not None else None, "who": who, "wall": time.time()}
            )
            db.execute("UPDATE review_items SET status = ? WHERE id = ?", [status, item_id])
    except sqlite3.Error as exc:
        raise StoreError(f"cannot store the answer to item {item_id}: {exc}") from None


def answerable(item: Item) -> Item:
    """The item, unless the queue thinned it (its frame is gone)."""
    if item.status == "thinned":
        raise ReviewError(f"item {item.id} was thinned from the queue to keep a full hour's items spread; its frame is gone")
    return item


def accept(db: sqlite_utils.Database, item_id: int, who: str) -> Item:
    """The pre-labels are right: they become the item's labels."""
    item = answerable(get_item(db, item_id))
    if not item.prelabels:
        raise ReviewError(
            f"item {item_id} has no pre-label boxes to accept; skip it, or label it in a tool (segread review export)"
        )
    if len(item.prelabels) != item.display.n_digits:
        raise ReviewError(
            f"item {item_id} has {len(item.prelabels)} boxes but the display shows {item.display.n_digits} digits; "
            f"accepting would teach the model to miss one: skip it, or fix the boxes in a labeling tool (segread review export)"
        )
    labels = [{"digit": b["digit"], "xyxy": b["xyxy"]} for b in left_to_right(item.prelabels)]
    decide(db, item_id, "accept", "accepted", who, labels, "".join(b["digit"] for b in labels))
    return get_item(db, item_id)


def typed_digits(typed: str | None, item: Item) -> str:
    """The digits a person typed (07:57 and 0757 alike); the suggestion when they typed none and it is unique."""
    if typed is None:
        if len(item.suggestions) == 1:
            return item.suggestions[0]
        hint = f" (suggested: {' or '.join(item.suggestions)})" if item.suggestions else ""
        raise ReviewError(f"item {item.id}: type the digits the display shows, e.g. segread review fix {item.id} 0757{hint}")
    digits = typed.replace(":", "").replace(" ", "")
    if not ASCII_DIGITS.fullmatch(digits):  # str.isdigit takes '０', '²' and '٧', which no label maps
        raise ReviewError(f"item {item.id}: {typed!r} is not digits 0-9; type what the display shows, e.g. 0757")
    return digits


def fix(db: sqlite_utils.Database, item_id: int, typed: str | None, who: str) -> Item:
    """The boxes are right, the digits are not: typed digits go onto the pre-label boxes left to right."""
    item = answerable(get_item(db, item_id))
    digits = typed_digits(typed, item)
    boxes = left_to_right(item.prelabels)
    if len(digits) != len(boxes):
        raise ReviewError(
            f"item {item_id}: {len(digits)} digits typed ({digits}) but the pre-labels have {len(boxes)} boxes; "
            f"type one digit per box, left to right, or correct the boxes in a labeling tool (segread review export)"
        )
    labels = [{"digit": d, "xyxy": b["xyxy"]} for d, b in zip(digits, boxes)]
    status = "accepted" if [b["digit"] for b in boxes] == list(digits) else "fixed"
    decide(db, item_id, "fix", status, who, labels, digits)
    return get_item(db, item_id)


def skip(db: sqlite_utils.Database, item_id: int, who: str) -> Item:
    """Not worth labeling (unreadable, no display): kept, but left out of exports and training."""
    answerable(get_item(db, item_id))
    decide(db, item_id, "skip", "skipped", who)
    return get_item(db, item_id)
