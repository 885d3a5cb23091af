"""What the reader says of one frame (`FrameResult`, the JSON line `segread read --jsonl` writes)
and the counts over a run (`ReaderStats`, the live line's)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.focus import BLUR_REASON
from edge.reading import Reading


SKIP_REASONS = {
    "interval": "dedup: too soon after the last read frame",
    "unchanged": "dedup: the display looks the same as in the last read frame",
}


@dataclass(frozen=True)
class FrameResult:
    frame: str
    index: int
    t: float
    status: str  # "accepted" | "held" | "skipped"
    reading: Reading | None
    mode: str  # "crop" | "find" | "skipped"
    ms: float
    skip_reason: str | None = None  # the dedup gate's: "interval" or "unchanged"
    settles: "FrameResult | None" = None  # the final verdict of an earlier frame, whose verdict waited until this one

    def to_json(self) -> dict:
        r = self.reading
        accepted = self.status == "accepted"
        return {
            "frame": self.frame,
            "t": round(self.t, 3),
            "status": self.status,
            "reading": r.text if accepted else None,
            "value": r.value if accepted else None,
            "confidence": round(r.confidence, 4) if r else 0.0,
            "reason": r.reason if r else SKIP_REASONS.get(self.skip_reason, self.skip_reason),
            "digits": r.digits.to_list() if r else [],
            "flags": list(r.flags) if r else [],  # how it was read: levelled, smoothed, second look, mid-update, ...
            # What the session says a doubted reading showed: the steady places' vote, or the track's
            # own time a contradicting reading reads like with one digit misread.
            "suggestion": (r.suggestion or r.expected) if r else None,
        }


@dataclass
class ReaderStats:
    frames: int = 0
    read: int = 0
    accepted: int = 0
    held: int = 0
    skipped: int = 0
    blind: int = 0  # read frames in which no digit was found
    blurred: int = 0  # read frames held as the camera is out of focus (edge.focus)
    ms: deque = field(default_factory=lambda: deque(maxlen=1000))  # recent read times: fps, bounded for weeks

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        if result.status == "skipped":
            self.skipped += 1
            return
        self.read += 1
        self.ms.append(result.ms)
        if result.reading is None or len(result.reading.digits) == 0:
            self.blind += 1
        if result.status == "accepted":
            self.accepted += 1
        else:
            self.held += 1
            if result.reading is not None and (result.reading.reason or "").startswith(BLUR_REASON):
                self.blurred += 1

    @property
    def fps(self) -> float:
        """Frames read per second of reading, over the last 1000 read frames."""
        return 1000.0 * len(self.ms) / sum(self.ms) if self.ms else 0.0
