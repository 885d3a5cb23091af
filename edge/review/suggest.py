"""What a queued frame must have shown, from the accepted readings around it.

A time display is a sequence: a frame between accepted neighbours 07:56 and 07:59 showed 07:57 or
07:58. The next accepted reading comes later than the frame, so a suggestion is settled when it
arrives; until then the item waits (bounded by `max_wait` seconds of frame time).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from edge.result import FrameResult
from edge.reading import DisplayFormat
from edge.sequence import SequenceCheck

SEPARATOR = "|"


def candidates(
    prev: tuple[float, float], nxt: tuple[float, float], t: float, fmt: DisplayFormat, max_candidates: int = 3
) -> list[str]:
    """Texts the display can have shown at `t` between accepted (value, t) readings prev and nxt.

    Values strictly between the two; when they are adjacent (a frame caught mid-update), either of
    them. More than `max_candidates` values are narrowed to those nearest the time-interpolated one.
    Empty when the two readings do not form a plausible sequence.
    """
    (pv, pt), (nv, nt) = prev, nxt
    delta = SequenceCheck(fmt).step(pv, nv, nt - pt)
    if delta is None:
        return []
    steps = int(round(delta))
    ks = list(range(1, steps)) if steps > 1 else sorted({0, steps})
    if len(ks) > max_candidates:
        share = (t - pt) / (nt - pt) if nt > pt else 0.5
        guess = share * steps
        ks = sorted(sorted(ks, key=lambda k: (abs(k - guess), k))[:max_candidates])
    period = delta - (nv - pv)  # non-zero when the display rolled over between the two
    return [fmt.text((pv + k) % period if period > 0.5 else pv + k) for k in ks]


def show(suggestion: str | None, fmt: DisplayFormat) -> str:
    """`0757|0758` as `07:57 or 07:58`."""
    if not suggestion:
        return "-"
    return " or ".join(fmt.show(s) for s in suggestion.split(SEPARATOR))


@dataclass
class Suggester:
    """Sees every FrameResult in order; settles suggestions for items waiting on their next neighbour."""

    fmt: DisplayFormat
    max_wait: float = 120.0
    max_candidates: int = 3
    _accepted: deque = field(default_factory=lambda: deque(maxlen=64), repr=False)
    _waiting: list = field(default_factory=list, repr=False)

    def wait(self, item_id: int, t: float, hint: str | None = None) -> list[tuple[int, str]]:
        """Register a queued item read at `t`; returns its suggestion at once when both neighbours are known.

        `hint` is the track's own time the frame reads like (its minutes digit misread, its other
        digits as read): where it is one of the neighbours' texts, it is the suggestion alone
        (98:26, not 98:25 or 98:26); where it is not (a seconds digit misread too), the neighbours'
        texts are. (The queue gives an item its hint at once: it stands where they say nothing.)"""
        self._waiting.append((item_id, t, hint))
        return self._settle()

    def update(self, result: FrameResult) -> list[tuple[int, str]]:
        """Note an accepted reading; returns (item id, suggestion) for items it settles."""
        r = result.reading
        if result.status != "accepted" or r is None or r.value is None:
            return []
        if "re-anchored" in r.flags:
            self._accepted.clear()  # the sequence broke here: neighbours across it say nothing
        self._accepted.append((r.value, result.t))
        return self._settle()

    def _settle(self) -> list[tuple[int, str]]:
        settled, still = [], []
        latest = self._accepted[-1][1] if self._accepted else None
        for item_id, t, hint in self._waiting:
            before = [a for a in self._accepted if a[1] < t]
            after = [a for a in self._accepted if a[1] > t]
            if before and after:
                found = candidates(before[-1], after[0], t, self.fmt, self.max_candidates)
                if hint in found:
                    settled.append((item_id, hint))
                elif found:
                    settled.append((item_id, SEPARATOR.join(found)))
            elif latest is None or latest - t <= self.max_wait:
                still.append((item_id, t, hint))
        self._waiting = still
        return settled
