"""Aiming the camera: a few seconds of a source read as the reader reads them, what it saw drawn
on the last frame, and what to change where the view is what stands in the way.

A person setting up a webcam over a rowing monitor wants to know, before the workout, whether the
display is in view, big enough, lit, in focus and free of glare. `look_at()` reads a source's
frames through a `Reader` (`look()`), keeps the last one read, and measures the display where the
digits were found: the digits' height, the share of blown-out pixels (glare), how bright and how
contrasted it is, its noise, how blurred its digits are, the row's tilt, and whether it touches
the frame's edge (`Look.hints`). `save()` writes the last frame with its digits boxed, green where
the reading was accepted, orange where it was held.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from edge.capture import Frame
from edge.drawing import ACCEPTED, HELD, banner, draw_digits, write_image
from edge.errors import SourceError
from edge.focus import BLURRED, NOISY_GLARE, SOFT, digit_px
from edge.labels import CLASS_NAMES
from edge.pipeline import Reader
from edge.result import FrameResult
from edge.track import noise_percent, row_angle

SMALL_PX = 16  # digits shorter than this read less surely (run3 at a quarter of its size, 16 px: 192 of 200)
GLARE_SHARE = 0.05  # of the display's pixels at 250 or more in a channel: a reflection over it
BLOWN_FRAME = 0.01  # of the frame's, in one patch, where no reading was accepted: a reflection that may hide the display
DARK_P95 = 70  # the display's brightest twentieth under this grey: too dark (run3: 130-145)
FLAT_RANGE = 45  # its grey range (5th to 95th percentile) under this: washed out (run3: 85-100)
NOISY_PERCENT = 5.0  # the reader smooths such a crop; more light reads better still
TILT_DEGREES = 8.0  # the reader turns such a row level; a level camera reads better still


@dataclass
class Look:
    """What a look at a source found."""

    frames: int = 0
    seconds: float = 0.0
    verdicts: Counter = field(default_factory=Counter)  # accepted / held, each frame's final verdict
    held_why: Counter = field(default_factory=Counter)
    found: int = 0  # frames in which all the digits the format wants were found
    last: Frame | None = None
    result: FrameResult | None = None  # the last frame's
    shape: tuple[int, int] | None = None  # (h, w) of the last frame
    focus: float | None = None  # the reader's `FocusWatch.share` at the end: the digits' edges over their height
    focus_noisy: bool = False  # ... measured in a noisy picture (`FocusWatch.noisy`), where glare's edges look soft too

    def shown(self, fmt) -> str:
        """The last frame's reading and verdict: `95:30 held (sequence: ...)`, or `no reading (...)`."""
        r, status = self.result.reading, self.result.status
        said = f"{fmt.show(r.text)} {status}" if r is not None and r.text else "no reading"
        return said + (f" ({r.reason})" if r is not None and r.reason and status != "accepted" else "")

    def report(self, fmt) -> list[str]:
        """What the look found, a line each: frames, the last reading, the display, then hints."""
        h, w = self.shape
        accepted, held = self.verdicts["accepted"], self.verdicts["held"]
        why = f"; held most for: {self.held_why.most_common(1)[0][0]}" if self.held_why else ""
        lines = [f"{self.frames} frame(s) of {w}x{h} in {self.seconds:.1f} s; all {fmt.n_digits} digits found in {self.found}",
                 f"reading: {self.shown(fmt)} on the last frame; {accepted} accepted, {held} held{why}"]
        if (box := self.box()) is not None:
            focus = (f"; edges {100 * self.focus:.0f}% of their height (in focus about 5%, held from "
                     f"{100 * BLURRED:.0f}%)" if self.focus is not None else "")  # a number to watch while turning the focus ring
            lines.append(f"display: digits {self.digit_px():.0f} px tall, at x {box[0]}-{box[2]}, y {box[1]}-{box[3]}{focus}")
        return lines + [f"hint: {hint}" for hint in self.hints(fmt.n_digits)]

    def box(self) -> tuple[int, int, int, int] | None:
        """The display around the last frame's digits (a third of a digit's height beyond them)."""
        digits = self._digits()
        if digits is None:
            return None
        h = self.digit_px()
        x1, y1 = digits.xyxy[:, :2].min(axis=0) - h / 3
        x2, y2 = digits.xyxy[:, 2:].max(axis=0) + h / 3
        height, width = self.shape
        return max(int(x1), 0), max(int(y1), 0), min(int(x2), width), min(int(y2), height)

    def digit_px(self) -> float:
        digits = self._digits()
        return digit_px(digits.xyxy) if digits is not None else 0.0

    def _blown_patch(self, box: tuple[int, int, int, int] | None) -> list[str]:
        """A hint naming the largest blown-out patch of the last frame where it covers BLOWN_FRAME of
        it or more, unless it lies apart from the display `box` (None: no display read whole, as
        what the model finds beside a reflection that whitened the display, the monitor's buttons
        say, is not the display): a lamp elsewhere in the room is not the fault."""
        blown = (self.last.image.max(axis=2) >= 250).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(blown)
        if n < 2:
            return []
        x, y, w, h, area = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
        share = area / blown.size
        apart = box is not None and (x > box[2] or x + w < box[0] or y > box[3] or y + h < box[1])
        if share < BLOWN_FRAME or apart:
            return []
        return [f"glare: a blown-out patch covers {100 * share:.0f}% of the frame at x {x}-{x + w}, y {y}-{y + h}: "
                "if the display is under it, turn the camera a little, or move the light that reflects in it"]

    def _digits(self):
        r = self.result.reading if self.result is not None else None
        return r.digits if r is not None and len(r.digits) else None

    def hints(self, n_digits: int) -> list[str]:
        """What to change, most telling first; empty where nothing stands out."""
        box = self.box()
        whole = box is not None and len(self._digits()) >= n_digits
        said = [] if self.verdicts["accepted"] else self._blown_patch(box if whole else None)
        if box is None:
            return said + ["no digits found: is the display in view, lit and in focus? Look at the saved frame"]
        found = len(self._digits())
        if found < n_digits:
            said.append(f"{found} of the {n_digits} digits found on the last frame: is the display's edge out of view, "
                        "or glare or a shadow over part of it?")
        px = self.digit_px()
        if px < SMALL_PX:
            said.append(f"the digits are {px:.0f} px tall: move the camera closer, or ask it for more pixels "
                        f"(--size 1280x720; {SMALL_PX} px or more reads surely)")
        x1, y1, x2, y2 = box
        crop = self.last.image[y1:y2, x1:x2]
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        p5, p95 = np.percentile(grey, (5, 95))
        blown = float((crop.max(axis=2) >= 250).mean())
        if blown >= GLARE_SHARE and not any(h.startswith("glare: ") for h in said):
            said.append(f"glare: {100 * blown:.0f}% of the display is blown out: turn the camera a little, "
                        "or move the light that reflects in it")
        elif p95 < DARK_P95:
            said.append(f"the display is dark (its brightest parts {p95:.0f} of 255): more light on it, or the camera's "
                        "exposure up")
        elif p95 - p5 < FLAT_RANGE:
            said.append(f"the display is washed out (its greys span {p95 - p5:.0f} of 255): a veil of glare, haze "
                        "or a dirty cover over it?")
        if noise_percent(crop) >= NOISY_PERCENT:
            said.append("the picture is noisy (dim light, the camera's gain up): more light on the display reads better")
        if self.focus is not None and self.focus >= SOFT:
            held = "; the reader holds what it reads from here" if self.focus >= BLURRED else ""
            fix = ("focus the camera on the display (a webcam's autofocus may settle on what is behind it)" if not self.focus_noisy
                   else f"light the display first ({NOISY_GLARE}), then focus the camera")
            said.append(f"the digits are blurred (their edges {100 * self.focus:.0f}% of a digit's height{held}): {fix}")
        angle = row_angle(self._digits())
        if angle is not None and abs(angle) >= TILT_DEGREES:
            said.append(f"the row of digits leans {abs(angle):.0f} degrees (its right end {'lower' if angle > 0 else 'higher'}): "
                        "the reader turns it, a level camera reads better")
        height, width = self.shape
        edges = [name for name, touches in (("left", x1 == 0), ("top", y1 == 0), ("right", x2 == width),
                                            ("bottom", y2 == height)) if touches]
        if edges:
            said.append(f"the display touches the frame's {' and '.join(edges)} edge: centre the camera on it, "
                        "as a little movement would cut digits off")
        return said


def look_at(reader: Reader, source, reopen: Callable[[], object], seconds: float, most: int | None) -> Look:
    """An opened `source` read through `reader` (its dedup off): a camera or stream for `seconds`
    (reopened by `reopen()` after a hiccup, and not waited on past them when it sends nothing), a
    folder or video for its first `most` frames (10 by default). A source of one frame has its
    reading judged on its own: no later frame can confirm it. Ctrl-C ends the look early."""
    from edge.run import ride_outages, stop_on_signals

    live = getattr(source, "live", False)
    if most == 1 or getattr(source, "still", False) or (hasattr(source, "__len__") and len(source) == 1):
        reader.sequence.confirm_first = False
    stop = threading.Event()
    frames = ride_outages(source, reopen, stop, seconds) if live else source
    timer = threading.Timer(seconds + 0.5, stop.set)
    if live:
        timer.start()
    try:
        with stop_on_signals(stop):
            seen = look(reader, frames, most or (None if live else 10), seconds if live else None, stop)
    finally:
        timer.cancel()
        stop.set()
    if seen.last is None:
        raise SourceError(f"{getattr(source, 'name', 'the source')} gave no frame in {seen.seconds:.0f} s")
    return seen


def look(reader: Reader, frames: Iterable[Frame], most: int | None, seconds: float | None = None,
         stop: threading.Event | None = None) -> Look:
    """Reads `frames` through `reader`: at most `most` of them (None: no limit) and, with
    `seconds`, for no longer than that; every frame is read (the reader's dedup should be off)."""
    seen = Look()
    start = time.monotonic()
    for frame in frames:
        result = reader.process(frame)
        seen.frames += 1
        seen.last, seen.result, seen.shape = frame, result, frame.image.shape[:2]
        if result.reading is not None and len(result.reading.digits) == reader.fmt.n_digits:
            seen.found += 1
        _count(seen, result.settles)
        if reader.awaiting is not result:  # a verdict that waits for the next frame is counted when it settles
            _count(seen, result)
        if (most is not None and seen.frames >= most) or (seconds is not None and time.monotonic() - start >= seconds) \
                or (stop is not None and stop.is_set()):
            break
    _count(seen, reader.settle())
    seen.seconds = time.monotonic() - start
    seen.focus, seen.focus_noisy = reader.focus.share, reader.focus.noisy  # measured as it read, over its last frames read whole
    return seen


def _count(seen: Look, result: FrameResult | None) -> None:
    if result is None or result.status == "skipped":
        return
    seen.verdicts[result.status] += 1
    if result.status == "held" and result.reading is not None and result.reading.reason:
        seen.held_why[result.reading.reason] += 1


def save(seen: Look, fmt, path: Path) -> None:
    """`draw(seen)` written to `path` (.jpg or .png) atomically; OutputError where it cannot be."""
    write_image(path, draw(seen, seen.shown(fmt)))


def draw(seen: Look, shown: str) -> np.ndarray:
    """The last frame with its digits boxed (green: accepted, orange: held), each with its class
    and score, and `shown` (the reading and its verdict) across the top."""
    image = seen.last.image.copy()
    digits = seen._digits()
    if digits is not None:
        boxes = [(xyxy, CLASS_NAMES[cls], float(conf)) for xyxy, cls, conf in zip(digits.xyxy, digits.class_id, digits.confidence)]
        draw_digits(image, boxes, ACCEPTED if seen.result.status == "accepted" else HELD)
    banner(image, shown)
    return image
