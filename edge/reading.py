"""Detections -> a reading of the display: pick the digit boxes, order them, check the format."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edge.detections import Detections


@dataclass(frozen=True)
class DisplayFormat:
    """What the display shows: `time` is MM:SS as four digits; `digits:N` is an N-digit counter."""

    kind: str
    n_digits: int

    @classmethod
    def parse(cls, spec: str) -> "DisplayFormat":
        if spec == "time":
            return cls("time", 4)
        if spec.startswith("digits:") and spec[7:].isdigit() and 1 <= int(spec[7:]) <= 12:
            return cls("digits", int(spec[7:]))
        raise ValueError(f"unknown display format {spec!r}; use 'time' or 'digits:N' (N = 1-12)")

    def value(self, text: str) -> float | None:
        """Seconds for a time display, the number for a counter; None when the text is impossible."""
        if len(text) != self.n_digits or not text.isdigit():
            return None
        if self.kind == "time":
            minutes, seconds = int(text[:2]), int(text[2:])
            return None if seconds > 59 else float(minutes * 60 + seconds)
        return float(int(text))

    def text(self, value: float) -> str:
        """The digits the display shows for a value (seconds for a time display): the inverse of `value`."""
        v = int(round(value))
        if self.kind == "time":
            return f"{v // 60 % 100:02d}{v % 60:02d}"
        return f"{v:0{self.n_digits}d}"[-self.n_digits :]

    def show(self, text: str) -> str:
        return f"{text[:2]}:{text[2:]}" if self.kind == "time" and len(text) == 4 else text

    def __str__(self) -> str:
        return "time" if self.kind == "time" else f"digits:{self.n_digits}"


def show_value(value: float | None, spec: str) -> str:
    """A stored value as a person reads it: "07:53" for a time display, the number for a counter."""
    if value is None:
        return "--"
    v = int(value)
    return f"{v // 60:02d}:{v % 60:02d}" if spec == "time" else str(v)


# The reason of a reading held as another quantity than the one read (a monitor in SCAN mode shows
# the time, the stroke count, the total count and the calories in turn; `SequenceCheck`).
SCAN_REASON = "scan: "


@dataclass(frozen=True)
class Reading:
    """What one frame says: the digits in order, their boxes, confidences and a verdict."""

    text: str | None
    value: float | None
    confidence: float
    digits: Detections
    status: str = "held"  # "accepted" | "held"
    reason: str | None = None
    flags: tuple[str, ...] = field(default=())
    suggestion: str | None = None  # what the session says the display showed, where it doubts this reading
    expected: str | None = None  # the track's own time a held reading reads like, one digit apart

    def with_verdict(self, status: str, reason: str | None, suggestion: str | None = None,
                     expected: str | None = None) -> "Reading":
        return replace(self, status=status, reason=reason, suggestion=suggestion, expected=expected)

    def flagged(self, flag: str) -> "Reading":
        return replace(self, flags=self.flags + (flag,))

    @property
    def other_quantity(self) -> bool:
        """Whether the frame showed another quantity than the one read (`SCAN_REASON`): its boxes
        may teach the detector digits, and nothing about the session."""
        return (self.reason or "").startswith(SCAN_REASON)


def main_row(dets: Detections) -> Detections:
    """The boxes on the display's main row: the row of most confident digits of a common height."""
    return dets if len(dets) <= 1 else dets[in_main_row(dets)]


def in_main_row(dets: Detections) -> np.ndarray:
    """Which boxes are on the main row (`main_row`), as a bool mask."""
    if not len(dets):
        return np.zeros(0, bool)
    best = int(np.argmax(dets.confidence * dets.heights))
    cy, h = dets.centers[best, 1], dets.heights[best]
    return (np.abs(dets.centers[:, 1] - cy) < 0.6 * h) & (dets.heights > 0.55 * h) & (dets.heights < 1.6 * h)


def drop_overlaps(dets: Detections, max_overlap: float = 0.35) -> tuple[Detections, int]:
    """Keep the more confident of two boxes that share more than `max_overlap` of the narrower width.

    A digit place gets one box: the peer model puts 5-6 boxes on a 4-digit display, a 1 inside
    the box of a 4, an 8 over a 3. Returns the kept boxes and how many were dropped.
    """
    order = np.argsort(-dets.confidence)
    kept: list[int] = []
    for i in order:
        x1, x2 = dets.xyxy[i, 0], dets.xyxy[i, 2]
        clash = False
        for j in kept:
            overlap = min(x2, dets.xyxy[j, 2]) - max(x1, dets.xyxy[j, 0])
            narrower = min(x2 - x1, dets.xyxy[j, 2] - dets.xyxy[j, 0])
            if overlap > max_overlap * narrower:
                clash = True
                break
        if not clash:
            kept.append(int(i))
    return dets[np.array(kept, dtype=np.int64)], len(dets) - len(kept)


def read_digits(dets: Detections, fmt: DisplayFormat, min_conf: float = 0.5) -> Reading:
    """Turn one frame's detections into a Reading, held when the digits do not fit the format."""
    row = main_row(dets)
    row, dropped = drop_overlaps(row)
    flags = ("overlap",) if dropped else ()
    if len(row) > fmt.n_digits:
        # Extra boxes: keep the n most confident (a stray box in the margin loses to real digits).
        row = row[np.sort(np.argsort(-row.confidence)[: fmt.n_digits])]
        flags += ("extra-boxes",)
    row = row[np.argsort(row.xyxy[:, 0])]
    confidence = float(row.confidence.min()) if len(row) else 0.0
    text = "".join(row.digits)
    if len(row) != fmt.n_digits:
        return Reading(None, None, confidence, row, "held", f"{len(row)} digits, expected {fmt.n_digits}", flags)
    value = fmt.value(text)
    if value is None:
        return Reading(text, None, confidence, row, "held", f"{fmt.show(text)} is not a valid {fmt}", flags)
    if confidence < min_conf:
        return Reading(text, value, confidence, row, "held", f"low confidence {confidence:.2f}", flags)
    return Reading(text, value, confidence, row, "accepted", None, flags)
