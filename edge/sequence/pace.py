"""The session's pace: how far a display advances in a second of frame time, and how far it may.

A clock filmed live advances 1 a second; a folder replayed as a camera only guesses its frame
times (`segread read --interval`, 1 s unless told), and a time-lapse video's are the video's, so
the pace is learned from the accepted steps. The plausible window (`max_rate` a second plus
`slack`) bounds any step; the ahead limit, at the learned pace, bounds a step the clock allows.

A mixin of `SequenceCheck`, whose fields it reads.
"""

from __future__ import annotations

import numpy as np

# MM:SS displays wrap at 100 minutes, some at 99 (run3 goes 98:59 -> 00:01), clocks at 60.
ROLLOVER_PERIODS = (6000.0, 5940.0, 3600.0)


class Pace:
    """`step`, `pace`, `rate` and the ahead limit of a `SequenceCheck`."""

    def step(self, prev: float, value: float, dt: float) -> float | None:
        """The advance from prev to value (rollover-aware), or None when it is implausible."""
        upper = max(dt, 0.0) * self.rate() + self.slack
        delta = value - prev
        if -self.back_tolerance <= delta <= upper:
            return delta
        if self.fmt.kind == "time" and delta < 0:
            for period in ROLLOVER_PERIODS:
                # A display that wraps at `period` never showed `prev` >= period.
                if prev < period and 0 <= delta + period <= upper:
                    return delta + period
        return None

    def pace(self) -> float:
        """Display units per second of frame time, from the recent accepted steps: 1 for a clock
        filmed live; more for a folder replayed faster than it was captured (run3's frames are 1.5 s
        apart, a time-lapse video's 1.5 s frames 10 a second show 15). Never below 1 (a paused
        display is no reason to expect less)."""
        taught = self._taught()
        if taught is None:
            return 1.0
        advance, seconds = taught
        return float(max(advance / seconds, 1.0))

    def rate(self) -> float:
        """Display units per second of frame time the plausible window allows: `max_rate`, or the
        session's pace taken `pace_error` larger where that is more (a folder whose frames are
        further apart than its guessed times: run3's every third frame advances 4.5 a frame)."""
        return max(self.max_rate, self.pace() * (1.0 + self.pace_error))

    @staticmethod
    def guessed(pace: float) -> bool:
        """Whether a pace shows the frame times to be a guess: the display advancing faster than one
        unit a second of frame time (a folder replayed faster than it was captured)."""
        return pace > 1.05

    @property
    def pace_known(self) -> bool:
        """Whether accepted steps over 2 s of frame time or more, or over 8 units of the display,
        taught the pace. (The last 16 steps of a time-lapse video span under 2 s of its time; a live
        camera's time display never advances 8 in under 2 s.)"""
        return self._taught() is not None

    def _taught(self) -> tuple[float, float] | None:
        """The display's advance and the frame time over the recent accepted steps, or None while
        they do not teach the pace (`pace_known`)."""
        advance, seconds = sum(d for d, _ in self._paces), sum(dt for _, dt in self._paces)
        return (advance, seconds) if seconds >= 2.0 or advance >= 8.0 else None

    def ahead_limit(self, dt: float, pace: float | None = None) -> float:
        """The largest advance a time display makes in dt seconds at the session's pace: one tick per
        second elapsed, rounded up, plus one for a frame caught as the display changes. Where the
        pace shows that the frame times are a guess (a folder replayed as a camera), the pace is
        itself an estimate, so the advance expected is taken `pace_error` larger: run3's frames
        step 1 or 2 (3 twice in 199) at a pace near 1.5, and a flat extra tick let a seconds digit
        misread 2 ahead be accepted, and the right frame after it be held as going back."""
        pace = pace or self.pace()
        expected = max(dt, 0.0) * pace * (1.0 + self.pace_error * self.guessed(pace))
        return float(np.ceil(expected - 1e-6) + 1)

    def runs_ahead(self, delta: float, dt: float, pace: float | None = None) -> bool:
        """Whether an advance that fits the wide window is more than the clock allows."""
        return self.provisional and self.fmt.kind == "time" and delta > self.ahead_limit(dt, pace)

    def falls_behind(self, delta: float, dt: float) -> bool:
        """Whether an advance falls more than two units short of what the clock says the display
        advanced in dt at the session's pace (`pace_error` less where the frame times are a guess):
        a display paused, or a digit misread low. Two, as run3's frames 1.5 s apart step 1 or 2 and
        a repeated reading (a frame caught as the display changes) is 1.5 short."""
        return delta < self.behind_limit(dt)

    def behind_limit(self, dt: float) -> float:
        """The least advance in dt that does not fall behind the clock (`falls_behind`); -inf where
        the rule does not apply (not provisional, not a time display, or no pace known yet)."""
        if not (self.provisional and self.fmt.kind == "time" and self.pace_known):
            return -np.inf
        pace = self.pace()
        return max(dt, 0.0) * pace * (1.0 - self.pace_error * self.guessed(pace)) - 2.0
