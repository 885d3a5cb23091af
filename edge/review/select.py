"""Which read frames enter the review queue, and why.

Each strategy names a reason a person's answer would teach the model something: a digit it was
unsure of, the wrong number of digits, an impossible value, a reading the session sequence
contradicts, a reading the sequence decoded from boxes that read otherwise, a reading held while
the camera was out of focus (`edge.focus`: read confidently wrong, so no other reason catches it),
boxes that overlap, a digit that flips between neighbouring frames, and a small seeded random
sample of confident frames (confident mistakes exist). Limits per hour of frame time
and per session keep the queue small; a perceptual hash of the display crop keeps near-duplicates
out (a hash of the display crop plus the same digits read). Hitting a limit is counted and said once; reading goes on regardless.

A full hour is thinned rather than closed: a bad stretch offers a frame every second, and a queue
that took the first 120 would hold the stretch's first two minutes only. A new frame farther from
the hour's last item than the two closest items are from each other takes the place of the item
in the densest spot (the one whose neighbours are closest together), so the hour's items stay
spread over all of it. Only a pending item that was never exported is thinned (a person may be
labeling an exported one); the queue marks it `thinned` and deletes its frame.
"""

from __future__ import annotations

import bisect
import logging
import random
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Callable

import cv2
import numpy as np

from edge.capture import Frame
from edge.focus import BLUR_REASON
from edge.result import FrameResult
from edge.track import crop_box

log = logging.getLogger(__name__)

STRATEGIES = ("low-confidence", "digit-count", "invalid", "sequence", "decoded", "blurred", "overlap", "flip", "sample")


def _field(default, description: str, **bounds):
    return field(default=default, metadata={"description": description, **bounds})


@dataclass(frozen=True)
class SelectConfig:
    """Settings of the selection; every field has a default, bounds are checked on construction."""

    strategies: tuple[str, ...] = _field(STRATEGIES, "Reasons that queue a frame, any of STRATEGIES.")
    min_conf: float = _field(0.6, "A digit below this confidence queues the frame.", lo=0.0, hi=1.0)
    sample_rate: float = _field(0.02, "Share of otherwise confident frames queued at random.", lo=0.0, hi=1.0)
    seed: int = _field(0, "Seed of the random sample, so a replay queues the same frames.")
    max_per_hour: int = _field(120, "Most items queued per hour of frame time; a full hour is thinned so its items stay spread over it.", lo=0)
    max_per_session: int = _field(400, "Most items queued per rowing session (or per run before one opens).", lo=0)
    hash_distance: int = _field(
        8, "A frame whose boxes read the same digits as a recently queued one and whose display hash is at most "
        "this many bits away is a near-duplicate.", lo=0, hi=64)
    recent_hashes: int = _field(256, "How many recently queued hashes a new frame is compared with.", lo=0)

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"strategies: unknown {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")
        object.__setattr__(self, "strategies", tuple(self.strategies))
        for f in fields(self):
            value = getattr(self, f.name)
            lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ValueError(f"{f.name}: {value} outside {lo}..{'' if hi is None else hi}")


def dhash(image: np.ndarray, size: int = 8, margin: float = 1.0) -> int:
    """64-bit difference hash: one bit per horizontal neighbour pair of a (size+1) x size grey thumbnail.

    A bit is set where the right cell is brighter by more than `margin` grey levels, so flat areas
    (an LCD's background) give stable zeros instead of bits decided by sensor noise.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey.astype(np.float32), (size + 1, size), interpolation=cv2.INTER_AREA)
    bits = (small[:, 1:] - small[:, :-1] > margin).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def display_hash(frame: Frame, result: FrameResult, pad: float = 0.15) -> int:
    """dHash of a tight crop around the reading's digit boxes, or of the whole frame without boxes."""
    image = frame.image
    r = result.reading
    if r is not None and len(r.digits):
        h, w = image.shape[:2]
        x1, y1, x2, y2 = crop_box(r.digits.xyxy, w, h, pad)
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            image = image[y1:y2, x1:x2]
    return dhash(image)


def box_digits(result: FrameResult) -> str:
    """The digits of every box read, left to right (also when the reading has the wrong count)."""
    r = result.reading
    return "".join(r.digits.digits) if r is not None else ""


def reasons_for(result: FrameResult, n_digits: int, cfg: SelectConfig) -> list[str]:
    """The single-frame reasons this frame deserves a person's look (flip and sample are not here)."""
    r = result.reading
    if r is None or result.status == "skipped":
        return []
    want = set(cfg.strategies)
    if r.other_quantity:  # a stroke count of a display in SCAN mode: only what the detector may learn from it
        want &= {"low-confidence", "overlap"}
    found = []
    low = [d for d, c in zip(r.digits.digits, r.digits.confidence) if c < cfg.min_conf]
    if "low-confidence" in want and len(r.digits) and low:
        found.append(f"low-confidence {float(r.digits.confidence.min()):.2f}")
    if "digit-count" in want and len(r.digits) != n_digits:
        found.append(f"digit-count {len(r.digits)}/{n_digits}")
    if "invalid" in want and r.text and len(r.text) == n_digits and r.value is None and r.status == "held":
        found.append("invalid " + r.text)
    if "sequence" in want and r.reason and r.reason.startswith("sequence"):
        found.append(r.reason)
    if "decoded" in want and r.status == "accepted" and r.text and r.text != box_digits(result):
        # The session settled what the boxes misread (or a frame caught mid-update): the accepted
        # reading is the person's likely answer, and the boxes are what to correct.
        found.append(f"decoded {box_digits(result)} as {r.text}")
    if "blurred" in want and (r.reason or "").startswith(BLUR_REASON):
        # Held for the camera's focus: the model reads such digits confidently wrong, and a person's
        # answer teaches it the blurred digit (the pre-label is what to correct).
        found.append("blurred")
    if "overlap" in want and "overlap" in r.flags:
        found.append("overlap")
    return found


def flipped(a: str, b: str, c: str) -> list[int]:
    """Positions where the middle reading differs from two neighbours that agree (A B A)."""
    if not (len(a) == len(b) == len(c)):
        return []
    return [i for i in range(len(b)) if a[i] == c[i] != b[i]]


@dataclass
class Candidate:
    """A frame chosen for the queue, with its reasons, display hash and boxes' digits; `thins`: the
    hour's entry (frame time, item id, session) whose item it replaces, if any."""

    frame: Frame
    result: FrameResult
    reasons: list[str]
    phash: int
    digits: str
    entry: list = field(default_factory=list, repr=False)
    thins: list | None = None


class Selector:
    """Feed every FrameResult in order; `update` returns the frames to queue now (0-2 of them).

    The flip check needs the next frame, so a frame that differs from both neighbours is queued
    one frame late (the previous frame is kept, nothing older).
    """

    def __init__(self, config: SelectConfig | None = None, n_digits: int = 4, seen_hashes=(),
                 thinnable: Callable[[list[int]], set[int]] = lambda ids: set(ids),
                 earlier: list[tuple[float, int]] = ()) -> None:
        """`seen_hashes`: (hash, digits) of items queued before, so a restart does not queue them again;
        `thinnable`: of these item ids, the ones the queue may still thin (pending, never exported);
        `earlier`: (seconds ago, item id) of items queued in the last hour before this start, oldest
        first: they count towards the hour (placed that long before the first frame) and may be
        thinned, so a restart in a bad hour does not queue another hour's worth."""
        self.config = config or SelectConfig()
        self.n_digits = n_digits
        self.rng = random.Random(self.config.seed)
        self.recent: deque[tuple[int, str]] = deque(seen_hashes, maxlen=max(1, self.config.recent_hashes))
        self._texts: deque[tuple[Frame, FrameResult, bool]] = deque(maxlen=2)
        self.thinnable = thinnable
        # [frame time, item id (None until stored), session] of the last hour's items, in time order
        # (a flip is queued one frame late, yet before the frame after it).
        self._hour: list[list] = []
        self._earlier = list(earlier)
        self._session_counts: dict = {}
        self.queued = 0
        self.duplicates = 0
        self.limited = 0  # frames not queued because a limit was reached
        self.crowded = 0  # frames left out of a full hour, as they would spread it no better
        self.limit_hit: str | None = None  # which limit stopped queueing most recently
        self._warned: set[str] = set()

    def update(self, frame: Frame, result: FrameResult, session_id=None) -> list[Candidate]:
        if result.reading is None or result.status == "skipped":
            return []
        chosen = []
        reasons = reasons_for(result, self.n_digits, self.config)
        flip = self._flip(frame, result, session_id)
        if flip is not None:
            chosen.append(flip)
        if not reasons and "sample" in self.config.strategies and result.status == "accepted":
            if self.rng.random() < self.config.sample_rate:
                reasons = ["sample"]
        own = self._admit(frame, result, reasons, session_id) if reasons else None
        r = result.reading
        if r.other_quantity:  # the display's own sequence of readings broke off (SCAN)
            self._texts.clear()
        elif r.text:
            self._texts.append((frame, result, own is not None))
        if own is not None:
            chosen.append(own)
        return chosen

    def _flip(self, frame: Frame, result: FrameResult, session_id) -> Candidate | None:
        if "flip" not in self.config.strategies or not result.reading.text or len(self._texts) < 2:
            return None
        (_, first, _), (mid_frame, mid, mid_queued) = self._texts
        where = flipped(first.reading.text, mid.reading.text, result.reading.text)
        if not where or mid_queued:
            return None
        why = f"flip {first.reading.text} {mid.reading.text} {result.reading.text}"
        candidate = self._admit(mid_frame, mid, [why], session_id)
        if candidate is not None:
            self._texts[-1] = (mid_frame, mid, True)
        return candidate

    def _admit(self, frame: Frame, result: FrameResult, reasons: list[str], session_id) -> Candidate | None:
        """Apply near-duplicate check and limits; count what they keep out."""
        cfg = self.config
        # A time display changes a digit every second; over a dark, noisy crop a 64-bit hash alone
        # cannot tell 07:56 from 07:57, so a near-duplicate must also have read the same digits.
        h, digits = display_hash(frame, result), box_digits(result)
        if any(d == digits and hamming(h, old) <= cfg.hash_distance for old, d in self.recent):
            self.duplicates += 1
            return None
        t = result.t
        if self._earlier:  # a session of their own: never counted against this run's sessions
            self._hour = [[t - ago, item_id, ("earlier",)] for ago, item_id in self._earlier] + self._hour
            self._session_counts[("earlier",)] = len(self._earlier)
            self._earlier = []
        self._hour = [e for e in self._hour if e[0] > t - 3600.0]
        victim = None
        if len(self._hour) >= cfg.max_per_hour:
            if self._crowded(t):
                self.crowded += 1  # the hour is full and this frame adds least to its spread
                return None
            victim = self._victim(t)
            if victim is None:
                return self._refuse("per-hour", f"review queue: {cfg.max_per_hour} items this hour, not queueing more until the hour passes")
            self._warn("thinning", f"review queue: {cfg.max_per_hour} items this hour; thinning them to keep the hour spread")
        if self._session_counts.get(session_id, 0) >= cfg.max_per_session and not (victim and victim[2] == session_id):
            return self._refuse("per-session", f"review queue: {cfg.max_per_session} items this session, not queueing more")
        if victim is not None:
            self._drop(victim)
        self.limit_hit = None
        entry = [t, None, session_id]
        self._hour.append(entry)
        self._session_counts[session_id] = self._session_counts.get(session_id, 0) + 1
        self.recent.append((h, digits))
        self.queued += 1
        return Candidate(frame, result, reasons, h, digits, entry, victim)

    def _crowded(self, t: float) -> bool:
        """Whether a frame at t lies no farther from the hour's last item than the hour's two
        closest items lie apart: taking it in would spread the hour no better."""
        times = [e[0] for e in self._hour]
        return len(times) >= 2 and t - times[-1] <= min(b - a for a, b in zip(times, times[1:]))

    def _victim(self, t: float) -> list | None:
        """The hour's entry whose item a frame at t replaces: the thinnable item (never the hour's
        first) whose neighbours are closest together; None when there is none."""
        entries = self._hour
        times = [e[0] for e in entries]
        free = self.thinnable([e[1] for e in entries[1:] if e[1] is not None])
        spans = [
            ((times[i + 1] if i + 1 < len(times) else t) - times[i - 1], i)
            for i in range(1, len(entries)) if entries[i][1] in free
        ]
        return entries[min(spans)[1]] if spans else None

    def stored(self, candidate: Candidate, item_id: int) -> None:
        """The queue stored the candidate as `item_id` (and thins `candidate.thins`' item next)."""
        candidate.entry[1] = item_id

    def _refuse(self, kind: str, message: str) -> None:
        self.limited += 1
        self.limit_hit = kind
        self._warn(kind, message)
        return None

    def _drop(self, entry: list) -> None:
        """Take an entry out of the hour and its session's count (entries are told apart by identity)."""
        if any(e is entry for e in self._hour):
            self._hour = [e for e in self._hour if e is not entry]
            self._session_counts[entry[2]] -= 1

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("%s (reading goes on)", message)

    def forget(self, candidate: Candidate) -> None:
        """Undo the counting of a candidate that could not be stored (full disk): its place in the
        hour and its session goes back to the item it would have thinned."""
        self.queued -= 1
        self._drop(candidate.entry)
        if candidate.thins is not None:
            bisect.insort(self._hour, candidate.thins, key=lambda e: e[0])
            self._session_counts[candidate.thins[2]] = self._session_counts.get(candidate.thins[2], 0) + 1
        if (candidate.phash, candidate.digits) in self.recent:
            self.recent.remove((candidate.phash, candidate.digits))
