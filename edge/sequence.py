"""The session so far as evidence: a time display advances about one second per second.

A reading that contradicts the sequence is held back, not logged as fact. When several held
readings in a row agree with each other but not with the old anchor (the display was reset, or
the anchor itself was wrong), the sequence re-anchors on them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.reading import DisplayFormat, Reading

# MM:SS displays wrap at 100 minutes, some at 99 (run3 goes 98:59 -> 00:01), clocks at 60.
ROLLOVER_PERIODS = (6000.0, 5940.0, 3600.0)


@dataclass
class SequenceCheck:
    fmt: DisplayFormat
    max_rate: float = 2.0  # display units per second of capture time a reading may advance at most
    slack: float = 3.0  # plus this, for capture jitter and mid-update frames
    back_tolerance: float = 1.0  # a fading old segment may show one unit less
    confirm: int = 3  # consecutive agreeing held readings that re-anchor the sequence
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
                if 0 <= delta + period <= upper:
                    return delta + period
        return None

    def update(self, reading: Reading, t: float) -> Reading:
        """Judge an otherwise acceptable reading against the sequence; hold it when it contradicts."""
        if reading.status != "accepted" or reading.value is None:
            return reading
        if self.anchor is None:
            self.anchor = (reading.value, t)
            return reading
        prev, prev_t = self.anchor
        if self.step(prev, reading.value, t - prev_t) is not None:
            self.anchor = (reading.value, t)
            self._pending.clear()
            return reading
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
        shown = self.fmt.show
        return reading.with_verdict(
            "held", f"sequence: {shown(reading.text)} does not follow {shown(_text(prev, self.fmt))}"
        )


def _text(value: float, fmt: DisplayFormat) -> str:
    if fmt.kind == "time":
        return f"{int(value) // 60:02d}{int(value) % 60:02d}"
    return f"{int(value):0{fmt.n_digits}d}"
