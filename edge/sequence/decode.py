"""What the session reads in a frame it did not take as read: the texts the display may show now,
the step a frame was caught in (`mid_update`; `stepping` for one the session takes, read as the
old digit), and the likeliest reading the session allows (`decode`). Each needs an anchor; none
changes the session's state.

A mixin of `SequenceCheck`, whose fields it reads.
"""

from __future__ import annotations

import numpy as np

from edge.labels import DIGIT_TO_CLASS
from edge.reading import Reading
from edge.segments import SEGMENTS, shows_step
from edge.sequence.pace import ROLLOVER_PERIODS


class SessionDecode:
    """`candidates`, `steps`, `mid_update`, `stepping`, `decode` and `session_reading` of a `SequenceCheck`."""

    def candidates(self, t: float) -> list[str]:
        """Every text the display may show at time t, given the anchor (neither ahead of the clock
        nor behind it when `provisional`: a decoded reading is accepted at once, so it gets no
        second frame)."""
        prev, prev_t = self.anchor
        upper = int(np.floor(max(t - prev_t, 0.0) * self.rate() + self.slack))
        if self.provisional and self.fmt.kind == "time":
            upper = min(upper, int(self._upper(t)))
        texts = self._texts(prev - int(self.back_tolerance), prev + upper)
        low = self.behind_limit(t - prev_t)  # once, not per text: each pace() sums the recent steps
        return [text for text in texts if self._advance(text, t) >= low]

    def _advance(self, text: str, t: float) -> float:
        """The advance from the anchor to `text` at t (rollover-aware); -1 where none fits."""
        prev, prev_t = self.anchor
        delta = self.step(prev, self.fmt.value(text), t - prev_t)
        return -1.0 if delta is None else delta

    @property
    def _limit(self) -> int:
        """One past the largest value the display shows: 100 minutes for a time display."""
        return 6000 if self.fmt.kind == "time" else 10**self.fmt.n_digits

    def _texts(self, low: float, high: float) -> list[str]:
        """The texts of the whole values from low to high, each as it is or past a rollover of
        the anchor's display (one that wraps at 100 minutes never wraps a reading of 99:xx)."""
        prev = self.anchor[0]
        limit = self._limit
        periods = [p for p in ROLLOVER_PERIODS if prev < p] if self.fmt.kind == "time" else []
        texts = set()
        for value in range(int(np.ceil(low)), int(np.floor(high)) + 1):
            for v in (value, *(value - p for p in periods if value >= p)):
                if 0 <= v < limit:
                    texts.add(self.fmt.text(v))
        return sorted(texts)

    def steps(self, t: float) -> list[tuple[str, str]]:
        """(old, new) texts of each one-unit step the display may be taking at time t: a time
        display ticks once a second, so from the anchor up to the seconds since, plus one. (Not
        at the learned pace: more steps make more frames ambiguous, on run3 and in simulation.)"""
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
        fits = {new for new in fits if not self._behind_clock(new, t)}
        if len(fits) != 1:
            return None
        new = fits.pop()
        return Reading(
            new, self.fmt.value(new), reading.confidence, reading.digits, "accepted", None, reading.flags + ("mid-update",)
        )

    def stepping(self, reading: Reading, t: float) -> Reading | None:
        """The next value, where a reading the session takes was caught as the display stepped to it.

        The new segments come on at once and the old ones fade, so a frame caught in a step shows
        the new digit with some of the old one over it; the truth is the new value, yet the model
        may read the old digit, and score the new one second. run3's 96:43 with the 2 before it
        still faint read 96:42 under JPEG 15, its 3 scoring 0.18 against the 2's 0.62; a steady
        digit's second class scores under 0.05 of its best in 95% of the readings taken. So where
        every place that changes at the next unit scores the digit it changes to second, at
        `step_second` of its best or more, and the next value does not run ahead of the clock, the
        reading is that next value (flagged "mid-update"); else None, and on any display but a
        time display (a counter's pace is no clock to check a step against). Only where the new
        digit lights at most one segment the old one does not (2 -> 3, 8 -> 9, 9 -> 0, not 4 -> 5):
        its new segments come on at once, so a frame in a step that lights more shows no old
        digit, and a new one read with a ghost of the last scores the one after it second by
        chance (run3's 01:24 over a faint 3, under glare: its 5 scored 0.24 of the 4). The session
        stays anchored on the value read (`SequenceCheck._judge`), so a step taken wrongly costs
        that frame alone: the frames after it that show the old value still follow.
        """
        scores = reading.digits.class_scores
        if (self.step_second is None or self.fmt.kind != "time" or scores is None or reading.value is None
                or len(reading.digits) != self.fmt.n_digits):
            return None
        new = self.fmt.text(reading.value + 1)
        ranked = np.argsort(-scores, axis=1)
        for place, (old, digit) in enumerate(zip(reading.text, new)):
            if old == digit:
                continue
            best, second = ranked[place, :2]
            if second != DIGIT_TO_CLASS[digit] or scores[place, second] < self.step_second * scores[place, best]:
                return None
            if len(set(SEGMENTS[digit]) - set(SEGMENTS[old])) > 1:
                return None
        value = self.fmt.value(new)  # 99:59 steps to 00:00 on a display that wraps at 100 minutes
        delta = self.step(self.anchor[0], value, t - self.anchor[1])
        if delta is None or self._beyond(delta, t):
            return None
        return Reading(new, value, reading.confidence, reading.digits, "accepted", None, reading.flags + ("mid-update",))

    def _behind_clock(self, text: str, t: float) -> bool:
        """Whether a step to `text` at t falls behind the clock: a frame caught mid-update shows the
        display stepping to the value it shows now, which is at least the anchor plus the session's
        pace over the time since, less the one unit the anchor may have shown for nearly a second
        already. (The steps a time display may take count one a second from the anchor, so at
        run3's pace of 1.5 a frame two frames on also takes steps the clock has passed.)"""
        prev_t = self.anchor[1]
        return self._advance(text, t) < self.pace() * max(t - prev_t, 0.0) - 1.0

    def session_reading(self, reading: Reading, t: float) -> Reading | None:
        """What the session reads in a frame it did not take as read: the step it was caught in
        (`mid_update`) or the likeliest reading it allows (`decode`); where the two disagree (under
        glare an 8 whose middle segment washed out reads as a 0, which a 6 turning into a 7 also
        shows, while its class scores still rank the 8 second), the one the clock puts clearly
        nearer the display's time; None when neither."""
        stepped, decoded = self.mid_update(reading, t), self.decode(reading, t)
        if stepped is None or decoded is None or stepped.text == decoded.text:
            return stepped or decoded
        # They disagree: the one nearer the clock, by half a unit or more (a true 16 -> 17 caught
        # half a second in may score 8 second), else neither.
        clock = self.pace() * max(t - self.anchor[1], 0.0)
        off = [abs(self._advance(r.text, t) - clock) for r in (stepped, decoded)]
        if abs(off[0] - off[1]) < 0.5:
            return None
        return stepped if off[0] < off[1] else decoded

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

