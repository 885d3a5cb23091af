"""The session so far as evidence: a time display advances about one second per second, and
never shows less than it showed (a reading behind the last accepted one is a misread).

A reading that contradicts the sequence is held back, not logged as fact. When several held
readings in a row agree with each other but not with the old anchor (the display was reset, or
the anchor itself was wrong), the sequence re-anchors on them, unless each of them is what the
track expects at its time with one minutes digit changed: that is one digit misread frame after
frame (glare over a segment; in dim light an unlit segment that shows, 00:06 read as 80:06), and
such readings stay held while the track has been read more often than contradicted. A reset or a
new session differs from the expected time in more places, or falls out of step with it; a track
that was itself the misread loses support with every contradiction and gives way to the truth.
(Only the minutes: a seconds digit changes within seconds, and a track that fell behind a fast
display is 10 or 20 seconds off, which a seconds digit would mistake for a misread.)

A display in SCAN mode, which shows other quantities in turn with the time, is read with
`edge.sequence.scan`; the steady places' vote is `edge.sequence.vote`.

The plausible window is wide (`max_rate` units per second plus `slack`) because a folder replayed
as a camera only guesses its frame times; where the session's pace shows its frames further apart
than that (run3's every third frame advances 4.5 a guessed second), the window follows the pace,
and a reading up to a minute ahead is held as running ahead (frames left out of the folder), not
as a contradiction. Within it, a time display that runs ahead of the clock
(more than the seconds elapsed, at the session's own pace, plus one) is most often a misread
digit (a 5 seen as a 9 turns 12:55 into 12:59), so such a reading is held until the next frame
follows it; one misread then costs one held frame instead of a wrong reading and the held frames
after it. The clock is measured from the last accepted reading, and from the one before it too
when that last step lagged the clock (a misread that fell short would otherwise make the true
frames after it run ahead). A reading more than two short of where the clock puts the display (a
seconds digit misread low under glare, or a paused display) is held the same way until the next
frame follows it: taken, it set the track seconds behind the display, and the track then took the
later frames misread low and held the true ones as too far ahead. The session reads no frame as a
step, or decodes none to a time, that the clock has passed either.

A reading the session cannot check (its first, or the first after a long gap) is held the same
way until the next sure reading confirms it: `edge.sequence.first`. What the session reads in a
frame it did not take as read (the step it was caught in, or a decoded reading) is
`edge.sequence.decode`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.reading import SCAN_REASON, DisplayFormat, Reading
from edge.sequence.decode import SessionDecode
from edge.sequence.first import FirstReading
from edge.sequence.pace import Pace
from edge.sequence.scan import ClockEvidence
from edge.sequence.vote import SegmentVote


@dataclass
class SequenceCheck(Pace, ClockEvidence, SegmentVote, SessionDecode, FirstReading):
    fmt: DisplayFormat
    max_rate: float = 2.0  # display units per second of capture time a reading may advance at most
    slack: float = 3.0  # plus this, for capture jitter and mid-update frames
    back_tolerance: float = 0.0  # units a reading may fall behind the anchor: a display never shows less than it showed
    confirm: int = 3  # consecutive agreeing held readings that re-anchor the sequence
    decode_min: float | None = 0.1  # least per-digit score for a sequence-decoded reading; None: off
    max_swaps: int = 1  # digits a decoded reading may take from a box's second-best class
    step_second: float | None = 0.1  # a changing place whose next digit scores this share of its best, second: read as stepping to it; None: off
    provisional: bool = True  # hold a time reading that runs ahead of the clock until the next frame follows it
    pace_error: float = 0.1  # share the learned pace may be off by where the frame times are a guess
    confirm_first: bool = True  # hold a reading the session cannot check until the next sure reading follows it
    first_wait: int = 3  # ... waiting through at most this many frames read without a sure reading
    shadow_guard: bool = True  # never re-anchor a supported time track on its own expected time with one minutes digit changed
    established: int = 5  # net support (accepted readings less contradicted ones) that makes a track worth defending
    max_support: int = 100  # a track's net support never grows past this, so a wrong one yields in time
    anchor: tuple[float, float] | None = None  # (value, t) of the last accepted reading
    _pending: deque = field(default_factory=lambda: deque(maxlen=8), repr=False)
    scan_span: float | None = 8.0  # seconds of held readings following the clock that move a time display's track; None: off
    held_memory: float = 60.0  # seconds the held readings are kept as evidence of a track
    _held: deque = field(default_factory=lambda: deque(maxlen=64), repr=False)  # (value, t) of readings held as contradictions
    _scanned: float | None = field(default=None, repr=False)  # t of the last reading of another quantity than the time
    _track: tuple[float, float] = field(default=(0.0, 0.0), repr=False)  # (t of its first reading, its advance since) of the track
    _trail: deque = field(default_factory=lambda: deque(maxlen=64), repr=False)  # (value, t) of the track's accepted readings
    _peak: int = field(default=0, repr=False)  # the most net support the track had
    _ahead: tuple[float, float] | None = field(default=None, repr=False)  # (value, t) held for running ahead or falling behind
    _ahead_frames: int = field(default=0, repr=False)  # frames judged since `_ahead` was held
    _lag: tuple[float, float] | None = field(default=None, repr=False)  # (advance, t before it) of a last step that lagged the clock
    _first: tuple[float, float, int] | None = field(default=None, repr=False)  # (value, t, frames waited) of an unchecked reading held
    _unsure: deque = field(default_factory=lambda: deque(maxlen=2), repr=False)  # (value, t) of the last unchecked readings held
    confirmed: float | None = field(default=None, repr=False)  # t of the unchecked reading the last frame confirmed
    doubted: tuple[float, str, str | None] | None = field(default=None, repr=False)  # ... or (t, reason, suggestion) where the vote doubts it
    _paces: deque = field(default_factory=lambda: deque(maxlen=16), repr=False)  # (advance, dt) of accepted steps
    _support: int = field(default=0, repr=False)  # the track's net support: +1 per accepted reading, -1 per contradiction
    steady_frames: int | None = 16  # frames read whole whose segments vote on each steady place; None: off
    vote_decode: bool = True  # read a guarded track's own time where the steady place's vote makes its digit
    vote_run: int = 2  # ... and one of the last this many frames read whole showed it there
    vote_min_conf: float = 0.7  # ... and the frame's other digits score this at least (run3's clean digits: 0.77 at the 1st percentile)
    segment_share: float = 0.4  # of them, the share a segment must be lit in to count as lit
    _seen: deque = field(init=False, repr=False)  # (read text, t) per frame read whole, the last `steady_frames`

    def __post_init__(self) -> None:
        self._seen = deque(maxlen=self.steady_frames or 1)
        if self.fmt.kind != "time":
            self.max_rate, self.slack = 20.0, 20.0

    def _upper(self, t: float) -> float:
        """The largest advance from the anchor that does not run ahead of the clock at t. When the
        anchor's own step lagged the clock (a misread 98:34 three frames after 98:32, where the
        display showed 98:37), the reading before it speaks for the clock as well: measured from
        the lagging anchor alone, the true 98:38 on the next frame would run ahead, and the frames
        after it would follow neither. An advance of 0 counts as lagging too (under "night" a
        misread 97:21 repeated the anchor two frames on); where the display was paused, that lets
        the first frame after the pause run one frame's interval further."""
        prev_t = self.anchor[1]
        upper = self.ahead_limit(t - prev_t)
        if self._lag is not None:
            advance, lag_t = self._lag
            upper = max(upper, self.ahead_limit(t - lag_t) - advance)
        return upper

    def _beyond(self, delta: float, t: float) -> bool:
        """Whether an advance of delta from the anchor at t runs ahead of the clock."""
        return self.provisional and self.fmt.kind == "time" and delta > self._upper(t)

    def shadowed(self, value: float, t: float) -> str | None:
        """The text the anchor's track expects at time t (at the session's pace) that `value`'s text
        matches in the seconds and in one of the two minutes places, or None (a time display only).

        The tolerance grows with the time since the anchor, as the pace is a learned estimate; a
        display that paused or was reset falls out of step with it, so the guard lets go.
        """
        if not self.shadow_guard or self.fmt.kind != "time" or self.anchor is None:
            return None
        prev, prev_t = self.anchor
        dt = max(t - prev_t, 0.0)
        expected = prev + self.pace() * dt
        tolerance = 2.0 + 0.05 * self.pace() * dt
        text = self.fmt.text(value)
        for other in self._texts(expected - tolerance, expected + tolerance):
            if text[2:] == other[2:] and (text[0] == other[0]) != (text[1] == other[1]):
                return other
        return None

    @property
    def supported(self) -> bool:
        """Whether the session follows a supported track: net `established` readings more than contradictions."""
        return self.anchor is not None and self._support >= self.established

    def fits(self, value: float, t: float) -> bool:
        """Whether a reading of `value` at t fits the session: it follows the anchor without running
        ahead of the clock, or the session has no supported track yet (none at all, or one that
        has been contradicted about as often as read); no state changes."""
        if not self.supported:
            return True
        prev, prev_t = self.anchor
        delta = self.step(prev, value, t - prev_t)
        return delta is not None and not self._beyond(delta, t)

    def explains(self, reading: Reading, t: float) -> bool:
        """Whether the session can read this unaccepted frame itself (mid-update or decoded); no
        state changes."""
        return (
            not self.unchecked(t) and len(reading.digits) == self.fmt.n_digits
            and self.session_reading(reading, t) is not None
        )

    def _accept(self, value: float, t: float, advance: float | None = None) -> None:
        """Move the anchor to an accepted reading; its advance (`advance` where the window cannot
        tell it yet: a steady run's) teaches the session's pace."""
        self._lag = None
        if self.anchor is None:
            self._track, self._peak = (t, 0.0), 0
            self._trail.clear()
        else:
            prev, prev_t = self.anchor
            delta = self.step(prev, value, t - prev_t) if advance is None else advance
            if delta is not None and t > prev_t:
                if delta < self.pace() * (t - prev_t) - 1.0:
                    self._lag = (delta, prev_t)
                self._paces.append((delta, t - prev_t))
                self._track = (self._track[0], self._track[1] + delta)
        self.anchor = (value, t)
        self._unsure.clear()
        self._support = min(self._support + 1, self.max_support)
        self._peak = max(self._peak, self._support)
        self._trail.append((value, t))
        self._pending.clear()
        self._ahead = None

    def update(self, reading: Reading, t: float) -> Reading:
        """Judge a reading against the sequence: hold it when it contradicts or runs ahead, decode
        it with the session's help when the boxes are there but the top digits are unsure or
        implausible, hold one the session cannot check until a sure reading follows it (then
        `confirmed` is its t, or `doubted` says why a steady place's recent frames disagree with
        it), and hold an accepted one that a steady place's recent frames disagree with
        (`unsteady`)."""
        self.confirmed = self.doubted = None
        first, self._first = self._first, None
        ahead = self._ahead
        if self._unchecked_reading(reading, t):
            judged = self._first_reading(reading, t, first)
        else:
            judged = self._judge(reading, t)
            if first is not None and first[2] < self.first_wait and judged.status != "accepted":
                self._first = (first[0], first[1], first[2] + 1)  # a frame with no sure reading: wait on
        if len(reading.digits) == self.fmt.n_digits and not judged.other_quantity:  # a total count votes on no place of the time
            self._seen.append(("".join(reading.digits.digits), t))
        if self._ahead is not None:
            self._ahead_frames = self._ahead_frames + 1 if self._ahead is ahead else 0
        if self.confirmed is not None:  # the vote judges it as it judges every accepted reading
            held = first if first is not None and first[1] == self.confirmed else ahead
            doubt = self.unsteady(held[0], self.confirmed)
            if doubt is not None:
                self.confirmed, self.doubted = None, (self.confirmed, *doubt)
        if judged.status != "accepted":
            return judged
        # The sequence has taken it (its anchor moved on); only the verdict on this frame changes.
        doubt = self.unsteady(judged.value, t)
        return judged if doubt is None else judged.with_verdict("held", *doubt)

    def _another(self, reading: Reading, t: float, what: str) -> Reading:
        """Hold a frame of another quantity than the time (`what` it showed); the display is known
        to scan from it on, for `held_memory` seconds (a total count of 31:60 to 31:99 is a minute
        and more of no time)."""
        self._scanned = t
        return reading.with_verdict("held", f"{SCAN_REASON}{what}: another quantity the display shows in turn")

    def _guarded(self, run: list[tuple[float, float]], shadow: str | None) -> bool:
        """Whether the track holds out against a run of held readings ending in this one (whose
        `shadow` it is): a track read more often than contradicted is defended against readings
        that are each its own expected time with one minutes digit changed. Under heavy glare a
        wrong track flickers with contradictions, and a true one outlasts a misread digit."""
        return (
            shadow is not None and self._support >= self.established
            and all(self.shadowed(v, seen) for v, seen in run[:-1])  # the last is this reading
        )

    def _reanchor_run(self, value: float, t: float, shadow: str | None) -> tuple[list[tuple[float, float]], bool]:
        """The held readings, this one last, the sequence re-anchors on, and whether they kept the
        clock over `scan_span` (`clock_run`); ([], False) to hold this one. Short of that, the last
        `confirm` held readings that follow each other move a track, except a supported time
        display's: three readings of a display's stroke count in SCAN mode agree as well."""
        clock = self.clock_run(value, t)
        if clock and not self._guarded(clock, shadow):
            return clock, True
        if self.scan_rules and self.supported:
            return [], False
        recent = list(self._pending)[-self.confirm :]
        if len(recent) == self.confirm and not self._guarded(recent, shadow) and all(
            self.step(a[0], b[0], b[1] - a[1]) is not None for a, b in zip(recent, recent[1:])
        ):
            return recent, False
        return [], False

    def _follows_held(self, reading: Reading, t: float) -> Reading | None:
        """Accept the reading held out of step with the clock on the frame before (`_ahead`) and
        this one, when this one follows it at the pace of that jump or the session's: the display
        did move that fast, or stood still (or the frame times are a poor guess); else None."""
        if self._ahead is None:
            return None
        prev, prev_t = self.anchor
        ahead, ahead_t = self._ahead
        jump = self.step(prev, ahead, ahead_t - prev_t) or 0.0
        pace = max(self.pace(), jump / max(ahead_t - prev_t, 1e-6))
        step = self.step(ahead, reading.value, t - ahead_t)
        if step is None or step < 0 or t <= ahead_t or self.runs_ahead(step, t - ahead_t, pace):
            return None
        self._accept(ahead, ahead_t)
        self._accept(reading.value, t)
        self.confirmed = ahead_t
        return Reading(
            reading.text, reading.value, reading.confidence, reading.digits, "accepted", None,
            reading.flags + ("jump-confirmed",),
        )

    def _judge(self, reading: Reading, t: float) -> Reading:
        if reading.value is None or reading.status != "accepted":
            if not self.unchecked(t) and len(reading.digits) == self.fmt.n_digits:
                decoded = self.session_reading(reading, t)
                if decoded is not None:
                    self._accept(decoded.value, t)
                    return decoded
            if self.scanning(t) and (reading.value is None or self.another_quantity(reading.value, t)):
                # A time shows every place (00:01) and never 31:64; a count may.
                if reading.text is None:
                    what = f"{len(reading.digits)} digits"
                elif reading.value is None:
                    what = f"{self.fmt.show(reading.text)} is no time"
                else:
                    what = f"{self.fmt.show(reading.text)} ({reading.reason}) advances slower than a clock"
                return self._another(reading, t, what)
            return reading
        prev, prev_t = self.anchor
        delta = self.step(prev, reading.value, t - prev_t)
        shown = self.fmt.show
        if delta is not None and not self._beyond(delta, t):
            if not self.falls_behind(delta, t - prev_t):
                stepped = self.stepping(reading, t)  # judged from the anchor before this frame
                self._accept(reading.value, t)  # anchored as read: a step taken wrongly costs this frame alone
                return stepped or reading
            followed = self._follows_held(reading, t)
            if followed is not None:
                return followed
            # More than two short of the clock: a paused display, or a seconds digit misread low
            # (under glare 97:27 read 97:21 four frames after 97:21, and the track took it, fell
            # 6 s behind and took every later frame whose seconds digit was misread low).
            self._ahead = (reading.value, t)
            return reading.with_verdict(
                "held", f"sequence: {shown(reading.text)} falls behind the clock from {shown(self.fmt.text(prev))}; "
                "held until the next frame follows it"
            )
        followed = self._follows_held(reading, t)
        if followed is not None:
            return followed
        decoded = self.session_reading(reading, t)
        if decoded is None and delta is None and self.another_quantity(reading.value, t):
            # Neither a contradiction of the track nor a step towards another: the display's SCAN.
            self._hold_held(reading.value, t)
            return self._another(reading, t, f"{shown(reading.text)} advances slower than a clock")
        self._pending.append((reading.value, t))
        shadow = self.shadowed(reading.value, t) if delta is None else None
        run, clocked = self._reanchor_run(reading.value, t, shadow)
        self._hold_held(reading.value, t)
        if run:
            superseded = self._leave_track(t, run[0][1])
            self.anchor, self._support = None, 0
            for value, seen in run:  # the agreeing frames set the pace from here on
                self._accept(value, seen)
            if clocked:  # readings that kept the clock that long speak for the track as much as `established` do
                self._support = max(self._support, self.established)
            return Reading(
                reading.text, reading.value, reading.confidence, reading.digits, "accepted", None,
                reading.flags + ("re-anchored",) + (("supersedes",) if superseded else ()),
            )
        if decoded is None and shadow is not None and self.supported:
            decoded = self.vote_decoded(reading, shadow, t)
        if decoded is not None:
            self._accept(decoded.value, t)
            return decoded
        # Held as a contradiction (a decoded or mid-update frame is not one); a shadow of the track
        # speaks against it every time: a wrong track is most often the truth with a digit misread.
        if delta is None and (shadow is not None or not self._continues_run()):
            self._support = max(self._support - 1, 0)
        if shadow is not None:
            return reading.with_verdict(
                "held", f"sequence: {shown(reading.text)} does not follow {shown(self.fmt.text(prev))}; "
                f"it reads like {shown(shadow)} with one digit misread", expected=shadow,
            )
        if delta is not None or self.after_gap(reading.value, t):
            self._ahead = (reading.value, t)
            return reading.with_verdict(
                "held", f"sequence: {shown(reading.text)} runs ahead of {shown(self.fmt.text(prev))}; "
                "held until the next frame follows it"
            )
        return reading.with_verdict(
            "held", f"sequence: {shown(reading.text)} does not follow {shown(self.fmt.text(prev))}"
        )
