"""Held readings as evidence of the tracks a time display shows.

A display may show other quantities in turn: a monitor in SCAN mode shows the time, the stroke
count, the total count and the calories for a few seconds each. Three agreeing readings of the
total count (31:24, 31:25, 31:26 as a time) look like a reset, so a track that has been read more
often than contradicted moves only to readings held after its last one that keep the clock over
`scan_span` seconds: a reset keeps counting, a scan slot gives way to the time again within
seconds, and a count advances slower than a clock. Such a run speaks against the track once, not
once a frame. A held reading that readings held `scan_span` seconds and more before it lead up to
at under `SLOW` of the clock's pace is another quantity (the total count, come round again): held
as such (`edge.reading.SCAN_REASON`), it is no evidence against the track at all, and while the
display shows other quantities, a frame of blank leading places (a count) or of no time (31:64) is
one too. A track that itself lags the clock (the total count, taken for the time before the time
was read enough) gives way to held readings that keep the clock across the frames between them:
the time, coming back slot after slot. And a folder with frames left out shows the display
ahead of its track by the seconds missing (`after_gap`).

A mixin of `SequenceCheck`, whose fields it reads.
"""

from __future__ import annotations

from collections import deque

import numpy as np


# The most a quantity shown with the time advances, as a share of the clock's pace: a total count at
# 24 strokes a minute advances 0.4 a second, at 36 a minute 0.6. A track of the time itself, counted
# at a pace learned over the last steps, may fall 15% short over a minute of frames (run3 under
# heavy compression: 95:35 to 96:30 in 42 frames, 1.31 a frame at a learned 1.53).
SLOW = 0.75

# The most a folder's missing frames may skip, in display units: a minute of frames.
GAP = 60.0


class ClockEvidence:
    """What the readings a `SequenceCheck` held say: a run that keeps the clock, another quantity."""

    @property
    def scan_rules(self) -> bool:
        """Whether the SCAN-mode rules apply: a time display, `scan_span` set."""
        return self.scan_span is not None and self.fmt.kind == "time"

    def _continues_run(self) -> bool:
        """Whether the reading just held follows the one held before it, with none accepted between:
        such a run speaks against the track once, whatever its length (six frames of a stroke count
        in SCAN mode would otherwise wear out a track read as often); it moves the track when it
        keeps the clock (`clock_run`)."""
        if not self.scan_rules or len(self._pending) < 2:
            return False
        (a, a_t), (b, b_t) = self._pending[-2], self._pending[-1]
        return self.step(a, b, b_t - a_t) is not None

    def clock_steps(self, dt: float, pace: float) -> tuple[float, float]:
        """The least and the largest advance of a time display in dt seconds at the clock's pace:
        the seconds elapsed less two (a tick, and a frame caught mid-update), where the frame times
        are a guess the pace taken `pace_error` smaller; up to the ahead limit."""
        return dt * pace * (1.0 - self.pace_error * self.guessed(pace)) - 2.0, self.ahead_limit(dt, pace)

    def keeps_clock(self, value: float, t: float, later: float, later_t: float, pace: float) -> bool:
        """Whether a time display that showed `value` at t shows `later` at later_t at the clock's pace."""
        delta = self.step(value, later, later_t - t)
        low, high = self.clock_steps(later_t - t, pace)
        return delta is not None and low <= delta <= high

    def lags_clock(self) -> bool:
        """Whether the track, over `scan_span` seconds or more since its first reading, advanced
        less than `SLOW` of a second a second: no time display's track, however often read
        (a stroke count in SCAN mode, taken for the time before the time was read enough)."""
        start, advance = self._track
        elapsed = self.anchor[1] - start if self.anchor is not None else 0.0
        return self.scan_span is not None and elapsed >= self.scan_span and advance < SLOW * elapsed

    def another_quantity(self, value: float, t: float) -> bool:
        """Whether a held reading of `value` at t is a quantity the display shows in turn with the
        time (a stroke count, the calories), not the time: at least `confirm` - 1 readings held
        `scan_span` seconds or more before it lead up to it at less than `SLOW` of the clock's pace
        (two units of slack). A misread lines up with no earlier one like that; a count, slot after
        slot, does. A time display only."""
        if not self.scan_rules:
            return False
        pace, behind = self.pace(), 0
        for v, seen in self._held:
            delta = self.step(v, value, t - seen)
            if (t - seen) * pace >= self.scan_span and delta is not None and delta < SLOW * (t - seen) * pace - 2.0:
                behind += 1
        return behind >= self.confirm - 1

    def scanning(self, t: float) -> bool:
        """Whether the display showed another quantity than the time in the last `held_memory` seconds."""
        return self._scanned is not None and t - self._scanned <= self.held_memory

    def _leave_track(self, t: float, run_start: float) -> bool:
        """The track is left at t for held readings from `run_start` on (a re-anchor). Under the
        SCAN-mode rules (off, this does nothing) its readings of the last `held_memory` seconds
        join the held ones as evidence: a total count read as the first track of a workout that
        starts in SCAN mode, then left for the time, is another quantity when it comes round
        again, not a reset. True when its readings were no session's (`SessionLog` withdraws
        them): it never reached `established` support, or the readings that take over began
        before its last one (the time, showing around the count's slots: `lags_clock`). A paused
        display that is reset is left for readings after its own."""
        if not self.scan_rules or not self._trail:
            return False
        left = [(v, seen) for v, seen in self._trail if t - seen <= self.held_memory]
        self._held = deque(sorted([*left, *self._held], key=lambda held: held[1]), maxlen=self._held.maxlen)
        return self._peak < self.established or run_start < self.anchor[1]

    def _hold_held(self, value: float, t: float) -> None:
        """Keep a held reading as evidence of a track, for `held_memory` seconds."""
        self._held.append((value, t))
        while t - self._held[0][1] > self.held_memory:
            self._held.popleft()

    def after_gap(self, value: float, t: float) -> bool:
        """Whether a reading of `value` at t that does not follow the track may be the display after
        frames missing from a folder: a folder replayed as a camera stamps its frames one interval
        apart whatever was left out between them, so after a gap the display is ahead of its track
        by the seconds missing, beyond the plausible window. Such a reading is ahead of the track's
        last by at most `GAP`, where the frame times are a guess (the pace is faster than one unit
        a second) and the display is not scanning (a stroke count a few units past the time would
        be ahead as well); it is held until the next frame follows it, like one that runs ahead."""
        if not self.provisional or self.fmt.kind != "time" or not self.guessed(self.pace()) or self.scanning(t):
            return False
        jump = self.step(self.anchor[0], value, (GAP - self.slack) / self.rate())
        return jump is not None and jump > 0

    def clock_run(self, value: float, t: float) -> list[tuple[float, float]]:
        """The readings held before t that a held reading of `value` at t follows at the clock's
        pace, with it last, when they are `confirm` or more over `scan_span` seconds of the display
        or more; else []. Only readings held after the track's last one count (a reset leaves the
        track for good; a misread 45:xx now and then among the 95:xx read does not), unless the
        track itself lags the clock (`lags_clock`): then the time coming back slot after slot
        between its readings takes the session back. A time display only."""
        if not self.scan_rules or not self.pace_known:
            return []  # a slow count keeps a clock of a guessed pace where the frames are 3 s apart, guessed 1 s
        pace = self.pace()
        since = -np.inf if self.lags_clock() else self.anchor[1]
        run = [(v, seen) for v, seen in self._held if since < seen < t and self.keeps_clock(v, seen, value, t, pace)]
        if len(run) + 1 < self.confirm or (t - run[0][1]) * pace < self.scan_span:
            return []
        return run + [(value, t)]
