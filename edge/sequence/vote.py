"""The steady places' vote: in dim light or noise a place loses segments at random, frame after
frame, and a track may settle on one of the misreads; the segments lit there over the recent
frames make the digit the display showed. A mixin of `SequenceCheck`, whose fields it reads.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from edge.reading import Reading
from edge.segments import SEGMENTS

DIGIT_OF_SEGMENTS = {frozenset(lit): digit for digit, lit in SEGMENTS.items() if digit != " "}


class SegmentVote:
    """`unsteady`, `vote_decoded` and `vote` of a `SequenceCheck`."""

    def unsteady(self, value: float, t: float) -> tuple[str, str | None] | None:
        """Why the recent frames make a reading of `value` accepted at t unsure, and the text they
        say it showed instead, where that is a reading the display can show (the review queue's
        suggestion); None when they do not.

        A place that the track, counted back from `value` at the session's pace (two units either
        way), did not change over the last `steady_frames` frames read whole showed one digit all
        along, so the segments lit in those frames' readings of it make that digit. In dim light
        or noise a place loses segments at random (run3 with a third of the light: its leading 9
        read as 3, 4 or 5, each in its turn) and the track may settle on one of the misreads,
        whose readings then fit it. A segment lit in at least `segment_share` of
        the frames counts as lit (a share, not every frame: a faint unlit segment shows now and
        then). When the lit segments make a digit with a segment that the shown one lacks, the
        reading is held for review. A shown digit with more segments than the frames' (a 9 where
        they mostly read 5) stands: segments fade, under glare or heavy compression, and the
        track's digit may be the whole one. A ghost segment lit in most frames does hold a right
        track's readings. None while fewer than half the window's frames are in.
        """
        text = self.fmt.text(value)
        for place, (made, reads) in self.vote(value, t).items():
            shown = text[place]
            if made is not None and not set(SEGMENTS[made]) <= set(SEGMENTS[shown]):
                # "sequence: ..." like every reason the session gives, so the review queue takes it.
                reason = (f"sequence: {self.fmt.show(text)} is unsteady: digit {place + 1} read "
                          f"{', '.join(sorted(set(reads)))} over the last {len(reads)} frames; the segments lit there "
                          f"make {made}, not {shown}")
                instead = text[:place] + made + text[place + 1:]
                return reason, instead if self.fmt.value(instead) is not None else None
        return None

    def vote_decoded(self, reading: Reading, shadow: str, t: float) -> Reading | None:
        """The track's own time `shadow` for a reading that is it with one minutes digit misread
        as a digit with some of its segments lost, when the steady places' vote makes the track's
        digit in that place; else None.

        Under heavy compression or glare a leading 9 loses segments now and then and reads 4 or 5
        (95:35 as 45:35): the shadow guard holds such a frame, yet the frames around it, read
        whole, light the 9's segments there. The vote counts the boxes as read, never what the
        session made of them; a track that settled on a misread digit (run3 with a third of the
        light) is voted against, so its shadows stay held. Held as well:
        - a frame showing more segments than the track's digit (95:28 where the first frames took
          the 9 for a 4, and the track followed them): the track may be the faded one, and the
          truth re-anchors as before;
        - a digit the display may be stepping to in that place: a frame caught mid-update (90:58
          as 98:59 turns to 00:00), not a misread;
        - a frame whose other digits score under `vote_min_conf`: one that lost a digit's segments
          is a poor frame, and its seconds are the reading's;
        - unless one of the last `vote_run` frames read whole showed the track's digit there: a
          run of frames that all read the other digit is a display that shows it, and costs at
          most that many.
        """
        if not self.vote_decode or reading.text is None:
            return None
        place = 0 if reading.text[0] != shadow[0] else 1
        others = np.delete(reading.digits.confidence, place)
        if float(others.min()) < self.vote_min_conf or not set(SEGMENTS[reading.text[place]]) < set(SEGMENTS[shadow[place]]):
            return None
        if any(new[place] == reading.text[place] for _, new in self.steps(t)):
            return None
        made, _ = self.vote(self.fmt.value(shadow), t).get(place, (None, []))
        if made != shadow[place] or shadow[place] not in [raw[place] for raw, _ in list(self._seen)[-self.vote_run:]]:
            return None
        return Reading(
            shadow, self.fmt.value(shadow), reading.confidence, reading.digits, "accepted", None,
            reading.flags + ("vote-decoded",),
        )

    def vote(self, value: float, t: float) -> dict[int, tuple[str | None, list[str]]]:
        """For each place the track, counted back from `value` at t, did not change over the last
        `steady_frames` frames read whole: the digit the segments lit there in at least
        `segment_share` of them make (None when they make no digit), and what those frames read
        there; of those frames, the ones whose changing places show what the track showed then
        (not the total count of a display in SCAN mode). Empty while fewer than half the window's
        frames are in, or with the vote off."""
        if self.steady_frames is None or len(self._seen) < self.steady_frames // 2:
            return {}
        text, pace = self.fmt.text(value), self.pace()
        back = [value - pace * (t - seen) for _, seen in self._seen]

        def shown(low: float, high: float) -> set[str]:  # two units either way; before 0 it wraps
            return {self.fmt.text(v % self._limit) for v in range(int(np.floor(low)) - 2, int(np.ceil(high)) + 3)}

        # What the display showed over the window (a reset's window never votes).
        moving = [place for place, digit in enumerate(text) if any(other[place] != digit for other in shown(min(back), max(back)))]
        # A frame is a view of this clock when its changing places show what the track showed then;
        # another quantity the display shows in turn (a stroke count in SCAN mode) is not.
        views = [raw for (raw, _), b in zip(self._seen, back) if any(all(raw[p] == near[p] for p in moving) for near in shown(b, b))]
        votes = {}
        for place in range(len(text)):
            if place in moving or not views:
                continue  # the track changed this place within the window
            reads = [raw[place] for raw in views]
            lit = Counter(segment for digit in reads for segment in SEGMENTS[digit])
            votes[place] = DIGIT_OF_SEGMENTS.get(frozenset(s for s, k in lit.items() if k >= self.segment_share * len(reads))), reads
        return votes
