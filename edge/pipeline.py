"""One frame through the reader: dedup gate -> detect (tracked crop) -> reading -> sequence check."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge.capture import Frame
from edge.dedup import DedupGate
from edge.detect import Detector
from edge.reading import DisplayFormat, Reading, read_digits
from edge.sequence import SequenceCheck
from edge.track import DisplayTracker


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
        }


@dataclass
class ReaderStats:
    frames: int = 0
    read: int = 0
    accepted: int = 0
    held: int = 0
    skipped: int = 0
    ms: deque = field(default_factory=lambda: deque(maxlen=1000))  # recent read times: fps, bounded for weeks

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        if result.status == "skipped":
            self.skipped += 1
            return
        self.read += 1
        self.ms.append(result.ms)
        if result.status == "accepted":
            self.accepted += 1
        else:
            self.held += 1

    @property
    def fps(self) -> float:
        """Frames read per second of reading, over the last 1000 read frames."""
        return 1000.0 * len(self.ms) / sum(self.ms) if self.ms else 0.0


class Reader:
    """Reads frames into accepted or held readings, keeping the display tracked between frames."""

    def __init__(
        self,
        detector: Detector,
        fmt: DisplayFormat | str = "time",
        dedup: DedupGate | None = None,
        min_conf: float = 0.5,
        crop_size: int | None = None,
        find_size: int = 640,
        pad: float = 0.6,
        use_crop: bool = True,
        find_ladder: bool = True,
        flatten: bool = True,
    ) -> None:
        self.fmt = DisplayFormat.parse(fmt) if isinstance(fmt, str) else fmt
        self.detector = detector
        self.dedup = dedup or DedupGate(enabled=False)
        self.min_conf = min_conf
        self.use_crop = use_crop
        self.flatten = flatten  # a failed frame gets a second look with its background levelled
        self.tracker = DisplayTracker(detector, crop_size=crop_size, find_size=find_size, find_ladder=find_ladder, pad=pad)
        self.sequence = SequenceCheck(self.fmt)
        self.stats = ReaderStats()

    def swap_detector(self, detector: Detector) -> None:
        """Use another (already warmed-up) model from the next frame on."""
        self.detector = detector
        self.tracker.detector = detector

    def read_image(self, image: np.ndarray) -> tuple[Reading, str]:
        """The reading of one image without the sequence check, and how it was found."""
        n = self.fmt.n_digits
        if self.use_crop and self.tracker.roi is not None:
            reading = read_digits(self.tracker.detect_crop(image), self.fmt, self.min_conf)
            if len(reading.digits) == n:
                self.tracker.follow(reading.digits, image)
                return reading, "crop"
        first = None
        sizes = self.tracker.find_sizes()
        for size in sizes:
            found, confirmed = self._find(image, size)
            # Below the find size a find only proposes where the display is: its reading counts
            # when the display crop, read at the model's own scale, gives all the digits.
            if found.status == "accepted" and (size == sizes[0] or confirmed):
                return found, "find"
            first = first or (found, self.tracker.roi)
        # Nothing acceptable at any size: the first size's reading and crop stand, as they were.
        reading, self.tracker.roi = first
        return reading, "find"

    def _find(self, image: np.ndarray, size: int) -> tuple[Reading, bool]:
        """Look for the display on the whole frame at `size`, then read it closer from a crop;
        the reading, and whether it came from the crop."""
        reading = read_digits(self.tracker.detect_full(image, size), self.fmt, self.min_conf)
        self.tracker.follow(reading.digits, image)
        if self.use_crop and len(reading.digits):
            closer = read_digits(self.tracker.detect_crop(image), self.fmt, self.min_conf)
            if len(closer.digits) == self.fmt.n_digits:
                self.tracker.follow(closer.digits, image)
                return closer, True
        return reading, False

    def second_look(self, image: np.ndarray, reading: Reading, t: float) -> Reading:
        """A frame whose reading failed, and that the session cannot read either, is read once more
        from its display crop with the background levelled (`track.flatten_light`: glare washes
        out the segments under it); that reading replaces the first only when it is accepted and
        fits the session (`SequenceCheck.fits`: a misread of the levelled crop never moves a
        supported track, yet can start one where glare left none)."""
        if not (self.flatten and self.use_crop) or reading.status == "accepted" or self.tracker.roi is None \
                or self.sequence.explains(reading, t):
            return reading
        again = read_digits(self.tracker.detect_crop(image, flatten=True), self.fmt, self.min_conf)
        if again.status != "accepted" or not self.sequence.fits(again.value, t):
            return reading
        self.tracker.follow(again.digits, image)
        return Reading(again.text, again.value, again.confidence, again.digits, again.status, None, again.flags + ("flattened",))

    def process(self, frame: Frame) -> FrameResult:
        start = time.perf_counter()
        skip = self.dedup.update(frame.image, frame.t, self.tracker.roi)
        if skip is not None:
            result = FrameResult(frame.name, frame.index, frame.t, "skipped", None, "skipped", 0.0, skip)
        else:
            reading, mode = self.read_image(frame.image)
            reading = self.sequence.update(self.second_look(frame.image, reading, frame.t), frame.t)
            ms = (time.perf_counter() - start) * 1000
            result = FrameResult(frame.name, frame.index, frame.t, reading.status, reading, mode, ms)
        self.stats.add(result)
        return result
