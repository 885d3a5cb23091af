"""The session so far as evidence: a time display advances about one second per second.

A reading that contradicts the sequence is held back, not logged as fact. When several held
readings in a row agree with each other but not with the old anchor (the display was reset, or
the anchor itself was wrong), the sequence re-anchors on them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge.labels import DIGIT_TO_CLASS
from edge.reading import DisplayFormat, Reading
from edge.segments import shows_step

# MM:SS displays wrap at 100 minutes, some at 99 (run3 goes 98:59 -> 00:01), clocks at 60.
ROLLOVER_PERIODS = (6000.0, 5940.0, 3600.0)


@dataclass
class SequenceCheck:
    fmt: DisplayFormat
    max_rate: float = 2.0  # display units per second of capture time a reading may advance at most
    slack: float = 3.0  # plus this, for capture jitter and mid-update frames
    back_tolerance: float = 1.0  # a fading old segment may show one unit less
    confirm: int = 3  # consecutive agreeing held readings that re-anchor the sequence
    decode_min: float | None = 0.1  # least per-digit score for a sequence-decoded reading; None: off
    max_swaps: int = 1  # digits a decoded reading may take from a box's second-best class
    anchor: tuple[float, float] | None = None  # (value, t) of the last accepted reading
    _pending: deque = field(default_factory=lambda: deque(maxlen=8), repr=False)

    def __post_init__(self) -> None:
        if self.fmt.kind != "time":
            self.max_rate, self.slack = 20.0, 20.0

    def step(self, prev: float, value: float, dt: float) -> float | None:
        """The advance from prev to value (rollover-aware), or None when it is implausible."""
        upper = max(dt, 0.0) * self.max_rate + self.slack
        delta = value - prev
        if -self.back_tolerance <= delta <= upper:
            return delta
        if self.fmt.kind == "time" and delta < 0:
            for period in ROLLOVER_PERIODS:
                # A display that wraps at `period` never showed `prev` >= period.
                if prev < period and 0 <= delta + period <= upper:
                    return delta + period
        return None

    def candidates(self, t: float) -> list[str]:
        """Every text the display may show at time t, given the anchor."""
        prev, prev_t = self.anchor
        upper = int(np.floor(max(t - prev_t, 0.0) * self.max_rate + self.slack))
        texts = set()
        limit = 6000 if self.fmt.kind == "time" else 10**self.fmt.n_digits
        periods = [p for p in ROLLOVER_PERIODS if prev < p] if self.fmt.kind == "time" else []
        for k in range(-int(self.back_tolerance), upper + 1):
            value = prev + k
            for v in (value, *(value - p for p in periods if value >= p)):
                if 0 <= v < limit:
                    texts.add(self.fmt.text(v))
        return sorted(texts)

    def steps(self, t: float) -> list[tuple[str, str]]:
        """(old, new) texts of each one-unit step the display may be taking at time t: a time
        display ticks once a second, so from the anchor up to the seconds since, plus one."""
        prev, prev_t = self.anchor
        if self.fmt.kind == "time":
            ahead, limit = int(np.ceil(max(t - prev_t, 0.0))) + 1, 6000
            periods = [p for p in ROLLOVER_PERIODS if prev < p]
        else:  # a counter's rate is unknown: only its next count
            ahead, limit = 1, 10**self.fmt.n_digits
            periods = [limit]
        pairs = set()
        for k in range(1, ahead + 1):
            old, new = int(prev) + k - 1, int(prev) + k
            if new < limit:
                pairs.add((old, new))
            pairs.update((old % p, new % p) for p in periods if new >= p)
        return [(self.fmt.text(old), self.fmt.text(new)) for old, new in sorted(pairs)]

    def mid_update(self, reading: Reading, t: float) -> Reading | None:
        """The new value of a frame caught while the display steps from one value to the next.

        An LCD's new segments come on at once while the old ones fade, each at its own pace, so a
        changing place shows its new digit with some of the old one over it (a 3 turning into a 4
        may look like a 9). A reading that every place of one step the session expects next
        explains is the new value; None when no step fits, when more than one does, or when a
        digit scores under `decode_min`.
        """
        text = reading.text
        if self.decode_min is None or self.anchor is None or text is None or len(text) != self.fmt.n_digits:
            return None
        if float(reading.digits.confidence.min()) < self.decode_min:
            return None
        fits = {
            new for old, new in self.steps(t)
            if text not in (old, new) and all(shows_step(*places) for places in zip(text, old, new))
        }
        if len(fits) != 1:
            return None
        new = fits.pop()
        return Reading(
            new, self.fmt.value(new), reading.confidence, reading.digits, "accepted", None, reading.flags + ("mid-update",)
        )

    def decode(self, reading: Reading, t: float) -> Reading | None:
        """The likeliest reading the session allows, when every digit box supports it.

        Each box carries all ten class scores; a leading 9 that the model scores 0.35 as 4 and 0.3
        as 9 is a 9 when the session so far says 95:3x. A candidate may differ from the boxes' best
        classes in at most `max_swaps` digits, each its box's second-best class, and every digit
        must score at least `decode_min`; otherwise None.
        """
        scores = reading.digits.class_scores
        if self.decode_min is None or self.anchor is None or scores is None or len(reading.digits) != self.fmt.n_digits:
            return None
        ranked = np.argsort(-scores, axis=1)
        rows = np.arange(len(scores))
        best, best_ll, best_min = None, -np.inf, 0.0
        for text in self.candidates(t):
            classes = np.array([DIGIT_TO_CLASS[c] for c in text])
            swapped = classes != ranked[:, 0]
            if swapped.sum() > self.max_swaps or (classes[swapped] != ranked[swapped, 1]).any():
                continue
            s = scores[rows, classes]
            ll = float(np.log(np.maximum(s, 1e-6)).sum())
            if ll > best_ll:
                best, best_ll, best_min = text, ll, float(s.min())
        if best is None or best_min < self.decode_min:
            return None
        value = self.fmt.value(best)
        return Reading(best, value, best_min, reading.digits, "accepted", None, reading.flags + ("sequence-decoded",))

    def update(self, reading: Reading, t: float) -> Reading:
        """Judge a reading against the sequence: hold it when it contradicts, decode it with the
        session's help when the boxes are there but the top digits are unsure or implausible."""
        if reading.value is None or reading.status != "accepted":
            if self.anchor is not None and len(reading.digits) == self.fmt.n_digits:
                decoded = self.mid_update(reading, t) or self.decode(reading, t)
                if decoded is not None:
                    self.anchor = (decoded.value, t)
                    self._pending.clear()
                    return decoded
            return reading
        if self.anchor is None:
            self.anchor = (reading.value, t)
            return reading
        prev, prev_t = self.anchor
        if self.step(prev, reading.value, t - prev_t) is not None:
            self.anchor = (reading.value, t)
            self._pending.clear()
            return reading
        decoded = self.mid_update(reading, t) or self.decode(reading, t)
        self._pending.append((reading.value, t))
        recent = list(self._pending)[-self.confirm :]
        if len(recent) == self.confirm and all(
            self.step(a[0], b[0], b[1] - a[1]) is not None for a, b in zip(recent, recent[1:])
        ):
            self.anchor = (reading.value, t)
            self._pending.clear()
            return Reading(
                reading.text, reading.value, reading.confidence, reading.digits, "accepted", None,
                reading.flags + ("re-anchored",),
            )
        if decoded is not None:
            self.anchor = (decoded.value, t)
            self._pending.clear()
            return decoded
        shown = self.fmt.show
        return reading.with_verdict(
            "held", f"sequence: {shown(reading.text)} does not follow {shown(self.fmt.text(prev))}"
        )

