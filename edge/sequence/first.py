"""Readings the session cannot check yet: its first, the first after a long gap, and one out of
step with the clock.

A reading the session cannot check (its first, or the first after so long that any time would
follow the anchor) is held until the next sure reading confirms it, or it stays held. A misread
first reading would otherwise be the session's start in the log (32:11 -> 01:31 for a workout that
began at 95:24) and the track every frame after it is judged by. A confirmed one still meets the
steady places' vote, as every accepted reading does.

A mixin of `SequenceCheck`, whose fields it reads.
"""

from __future__ import annotations

from edge.reading import Reading
from edge.sequence.scan import GAP


class FirstReading:
    """`awaiting`, `unchecked` and the first-reading rule of a `SequenceCheck`."""

    @property
    def awaiting(self) -> float | None:
        """The t of the reading held until a frame follows it, or None: an unchecked one, or one out
        of step with the clock (through the next `first_wait` frames; `confirmed` says when one
        followed it)."""
        if self._first is not None:
            return self._first[1]
        if self._ahead is not None and self._ahead_frames < self.first_wait:
            return self._ahead[1]
        return None

    @property
    def awaiting_first(self) -> bool:
        """Whether the reading `awaiting` is an unchecked one (else one out of step with the clock)."""
        return self._first is not None

    def lose_sight(self) -> None:
        """Forget where the display was (its frames went unjudged a while: a camera out of focus):
        the next reading is the first in a while, held until a sure one follows it. The pace the
        session learned stays."""
        self.anchor, self._support = None, 0
        self._ahead = self._lag = self._first = None
        self._unsure.clear()

    def unchecked(self, t: float) -> bool:
        """Whether a reading at t has nothing to be checked against: no anchor yet, or (a time
        display, which may roll over) one so long ago that the plausible window spans every time."""
        if self.anchor is None:
            return True
        return self.fmt.kind == "time" and (t - self.anchor[1]) * self.rate() + self.slack >= self._limit

    def _unchecked_reading(self, reading: Reading, t: float) -> bool:
        return reading.value is not None and reading.status == "accepted" and self.unchecked(t)

    def _first_reading(self, reading: Reading, t: float, first: tuple[float, float, int] | None) -> Reading:
        """An unchecked reading: accepted with the one held before it (`first`) when this one follows
        it in the plausible window (not at the clock's pace: the frame times of a folder may be a
        poor guess, and no pace is known yet), or with the two held before it when the three advance
        at one steady pace beyond the window (`steady_run`); else held in its place until a sure
        reading follows it, through at most `first_wait` frames without one."""
        if not self.confirm_first:
            self._accept(reading.value, t)
            return reading
        run, steady = [], False
        if first is not None:
            value, seen, _ = first
            delta = self.step(value, reading.value, t - seen)
            if delta is not None and t > seen:
                run = [(value, seen), (reading.value, t)]
        if not run:
            run = self.steady_run(reading.value, t)
            steady = bool(run)
        if run:
            self.anchor, self._support = None, 0  # a new track: nothing before the gap speaks for it
            for k, (value, seen) in enumerate(run):  # a steady run's steps teach the pace at once
                self._accept(value, seen, value - run[k - 1][0] if steady and k else None)
            if first is not None and first[1] == run[-2][1]:
                self.confirmed = first[1]
            return reading
        self._unsure.append((reading.value, t))
        self._first = (reading.value, t, 0)
        what = "the session's first reading" if self.anchor is None else "the first reading in a long while"
        return reading.with_verdict(
            "held", f"sequence: {self.fmt.show(reading.text)} is {what}; held until a frame follows it"
        )

    def steady_run(self, value: float, t: float) -> list[tuple[float, float]]:
        """The two unchecked readings held last and this one, when the three advance at one steady
        pace (each step within two units of what the other's pace gives it: a tick, and a frame
        caught mid-update) by up to `GAP` a step; else []. A folder of frames 6 s apart replayed at
        a guessed 1 s advances 6 a second of frame time, beyond the plausible window (2 a second
        plus 3), so no first reading ever followed another and every frame was held (`--interval`
        was the only way to read it); misreads do not line up like that. A time display only."""
        if self.fmt.kind != "time" or len(self._unsure) < 2:
            return []
        run = [*self._unsure, (value, t)]
        (d1, dt1), (d2, dt2) = ((b - a, b_t - a_t) for (a, a_t), (b, b_t) in zip(run, run[1:]))
        if min(dt1, dt2) <= 0 or not (0 < d1 <= GAP and 0 < d2 <= GAP) or abs(d2 - d1 * dt2 / dt1) > 2.0:
            return []
        return run

