"""One frame through the reader: dedup gate -> detect (tracked crop) -> reading -> sequence check."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from edge.capture import Frame
from edge.dedup import DedupGate
from edge.detect import Detector
from edge.focus import BLURRED, FocusWatch
from edge.reading import DisplayFormat, Reading, read_digits
from edge.result import FrameResult, ReaderStats
from edge.sequence import SequenceCheck
from edge.track import DisplayTracker, stretch_narrow


log = logging.getLogger(__name__)

TURN_TRIALS = 10  # frames of a tilted display read both as it is and turned level, before choosing
# Seconds a display in SCAN mode may go without a frame read whole (the time, or a total count of as
# many places) while its crop of fewer places is taken as it is: one round of its quantities, a few
# seconds each. Longer, and the camera may have been knocked aside: the display is looked for again.
SCAN_ROUND = 30.0
# Confidence from which a crop's first look, following the session's supported track, settles its
# frame without the other look (`Reader._sure`). Chosen on run3 and nine of its perturbations, both
# looks recorded: of the ~1,270 frames a first look at 0.8 or more would settle, 6 were read right
# only by the other look's other digits (27 at 0.6), each first look a misread off the track.
SURE = 0.8


class Reader:
    """Reads frames into accepted or held readings, keeping the display tracked between frames."""

    def __init__(
        self,
        detector: Detector,
        fmt: DisplayFormat | str = "time",
        dedup: DedupGate | None = None,
        min_conf: float = 0.5,
        crop_size: int | None = None,
        find_size: int = 640,
        pad: float = 0.6,
        use_crop: bool = True,
        find_ladder: bool = True,
        level: bool = True,
        second_look: bool = True,
        deskew: bool = True,
        denoise: bool = True,
        stretch: bool = True,
        vote_decode: bool = True,
        confirm_first: bool = True,
        scan: bool = True,
        blur_hold: float | None = BLURRED,
    ) -> None:
        self.fmt = DisplayFormat.parse(fmt) if isinstance(fmt, str) else fmt
        self.detector = detector
        self.dedup = dedup or DedupGate(enabled=False)
        self.min_conf = min_conf
        self.use_crop = use_crop
        self.level = level  # each crop is also read levelled; the more confident reading counts
        self.second_look = second_look  # a failed frame may take the crop's other reading
        self.stretch = stretch  # a frame whose grey levels span a narrow band is stretched first (track.stretch_narrow)
        self._stretched = False  # the frame being read was stretched
        self._other: Reading | None = None  # this frame's crop read the other way
        self._levelled_won = True  # the last frame ended on its crop levelled: that look is read first
        self._restart_turn_trial()  # a tilted display read as it is / turned: summed confidence, frames
        self._turned = False  # this frame's crop was read turned
        self.tracker = DisplayTracker(detector, crop_size=crop_size, find_size=find_size, find_ladder=find_ladder, pad=pad,
                                      deskew=deskew, denoise=denoise)
        self.sequence = SequenceCheck(self.fmt, vote_decode=vote_decode, confirm_first=confirm_first,
                                      scan_span=SequenceCheck.scan_span if scan else None)
        self.focus = FocusWatch(blur_hold)  # a camera out of focus: its readings are held (edge.focus)
        self._unfocused = False  # the last frames were held for the camera's focus
        self.stats = ReaderStats()
        self.awaiting: FrameResult | None = None  # the read frame whose verdict waits on the frames read after it
        self._awaiting_first = True  # ... an unchecked reading (else one out of step with the clock)
        self.found_at: int | None = None  # the whole-frame size the last find's reading came from
        self._whole: tuple[float, np.ndarray] | None = None  # t and digit boxes of the last frame read with every place

    def swap_detector(self, detector: Detector) -> None:
        """Use another (already warmed-up) model from the next frame on; a tilted display is
        tried both ways again, as the new model may read it better the other way."""
        self.detector = detector
        self.tracker.detector = detector
        self._restart_turn_trial()

    def exposed(self, image: np.ndarray) -> np.ndarray:
        """The frame as it is read: stretched over the whole grey range where its levels span a
        narrow band and `stretch` is on (`track.stretch_narrow`), else as it is."""
        wide = stretch_narrow(image) if self.stretch else None
        self._stretched = wide is not None
        return image if wide is None else wide

    def read_image(self, image: np.ndarray) -> tuple[Reading, str]:
        """The reading of one image without the sequence check, and how it was found."""
        reading, how = self._read_image(self.exposed(image))
        return reading.flagged("stretched") if self._stretched else reading, how

    def _read_image(self, image: np.ndarray, t: float | None = None) -> tuple[Reading, str]:
        """The reading of an image and how it was found: from the tracked display crop when that
        gives every digit, else by a find on the whole frame (`_find`). At t, while the display
        shows other quantities in turn (`SequenceCheck.scanning`), a crop that gives some digits
        where the display's last places were stands (`_scan_crop`): a stroke count shows fewer
        places than the time, and no find would see more."""
        n = self.fmt.n_digits
        self._fit(image)
        self.tracker.noisy = None  # a new image: its noise is judged afresh
        if self.use_crop and self.tracker.roi is not None:
            reading = self._read_crop(image, t=t)
            if len(reading.digits) == n:
                self.tracker.follow(reading.digits, image, whole=True)
                return reading, "crop"
            if len(reading.digits) and self._scan_crop(reading.digits.xyxy, t):
                return reading, "crop"
        first = None
        sizes = self.tracker.find_sizes(image.shape)
        for size in sizes:
            found, confirmed = self._find(image, size)
            # Below the find size a find only proposes where the display is: its reading counts
            # when the display crop, read at the model's own scale, gives all the digits.
            if found.status == "accepted" and (size == sizes[0] or confirmed):
                self.found_at = size
                return found, "find"
            first = first or (found, self.tracker.roi)
        enlarged = self.tracker.last_find(image.shape)
        if enlarged is not None:  # as below the find size, it counts when the crop bears it out
            found, confirmed = self._find(image, enlarged)
            if found.status == "accepted" and confirmed:
                self.found_at = enlarged
                return found, "find"
        self.found_at = sizes[0]
        # Nothing acceptable at any size: the first size's reading stands. Its crop does too when
        # it holds all the digits; a find that saw less (glare, a hand) keeps the crop where the
        # display last read whole, rather than following a stray box to a corner of the frame.
        reading, roi = first
        whole = len(reading.digits) == n or self.tracker.last_whole is None
        self.tracker.roi = roi if whole else self.tracker.last_whole
        return reading, "find"

    def _fit(self, image: np.ndarray) -> None:
        """Track the display on `image`: on a frame of another size than the last (a camera back at
        another resolution), the tracked crop is in the other frame's pixels, so the tracker scales
        it to the new frame, or looks for the display again where the frame's shape changed too
        (`DisplayTracker.fit`); no crop stands for a scanning display's (`_scan_crop`) until a frame
        reads whole."""
        if self.tracker.fit(image.shape):
            self._whole = None

    def _scan_crop(self, boxes: np.ndarray, t: float | None) -> bool:
        """Whether a crop read at t whose digit `boxes` are fewer than the display's places stands
        as it is (`_read_image`): the display scans, a frame was read whole within `SCAN_ROUND`
        s, and the boxes end where its did (a count's blank leading places), each as tall, within
        half a digit's width and a quarter of its height. A camera knocked aside shows what is
        left of the time elsewhere in the crop, and the display is looked for again."""
        if t is None or self._whole is None or not self.sequence.scanning(t) or t - self._whole[0] > SCAN_ROUND:
            return False
        whole = self._whole[1]
        width, height = float(np.median(whole[:, 2] - whole[:, 0])), float(np.median(whole[:, 3] - whole[:, 1]))
        last, whole_last = boxes[np.argmax(boxes[:, 2])], whole[np.argmax(whole[:, 2])]
        return (
            abs(last[2] - whole_last[2]) <= width / 2
            and abs((last[1] + last[3]) - (whole_last[1] + whole_last[3])) / 2 <= height / 4
            and bool(np.all(np.abs((boxes[:, 3] - boxes[:, 1]) - height) <= height / 4))
        )

    def _find(self, image: np.ndarray, size: int) -> tuple[Reading, bool]:
        """Look for the display on the whole frame at `size`, then read it closer from a crop;
        the reading, and whether it came from the crop."""
        reading = read_digits(self.tracker.detect_full(image, size), self.fmt, self.min_conf)
        self.tracker.follow(reading.digits, image, whole=len(reading.digits) == self.fmt.n_digits)
        if self.use_crop and len(reading.digits):
            closer = self._read_crop(image, level=False)
            if len(closer.digits) == self.fmt.n_digits:
                self.tracker.follow(closer.digits, image, whole=True)
                return closer, True
        return reading, False

    def _read_crop(self, image: np.ndarray, level: bool = True, t: float | None = None) -> Reading:
        """The display crop read as it is and, with `level`, with its background levelled as well
        (`track.flatten_light`): glare lifts the ground under part of the LCD and washes out the
        segments there, and dim light leaves them faint. Levelled, those read better; yet levelling
        adds noise to a small or blurred crop that read well as it was. So both may be read, and the
        accepted reading, the one with all the digits, the more confident one, in that order,
        counts (the crop as it is on a tie). The other is kept for `look_again`. The look the last
        frame ended on is read first, and at t the other is not read at all when the first settles
        the frame (`_sure`): a display tracked steadily costs one pass of the model a frame, not
        two. A find's closer look (`level=False`) reads the crop as it is only: levelled, the crop
        of a display found at the wrong scale read digits that were not there (more wrong-accepted
        photos on val and test).

        A display whose row tilts by `track.MIN_TURN` or more may read better with its crop turned
        level, or worse: a model that learned this display only upright misreads it leaning (run3
        turned 15 degrees: its leading 9 read as 3 on one frame in three), one that learned it
        leaning misreads it turned (the leaning val and test photos, tracked: turning made 6
        wrong and 3 right). So for its first TURN_TRIALS frames the crop is read both ways, the
        better reading counts, and the way whose accepted readings were the more confident in sum
        reads from then on (`_turn_view`)."""
        n = self.fmt.n_digits

        def rank(r: Reading) -> tuple:
            return r.status == "accepted", len(r.digits) == n, r.confidence

        self._other = None
        if not level:
            return self._read_view(image, level=False)
        turn = self._turn_view()
        self._turned = bool(turn)
        if turn is None:  # trying both views of a tilted display
            as_is, turned = self._read_view(image, level=False), self._read_view(image, level=False, turn=True)
            self._turn_votes[0] += as_is.confidence if as_is.status == "accepted" else 0.0
            self._turn_votes[1] += turned.confidence if turned.status == "accepted" else 0.0
            self._turn_trials += 1
            if self._turn_trials == TURN_TRIALS:
                way = "turned level" if self._turn_votes[1] > self._turn_votes[0] else "as the camera sees it"
                log.info("the display leans %.0f degrees: reading its crop %s (confidence summed over %d frames: "
                         "%.1f as it is, %.1f turned)", self.tracker.angle, way, TURN_TRIALS, *self._turn_votes)
            turn = rank(turned) > rank(as_is)
            raw, self._turned = (turned, True) if turn else (as_is, False)
            if not self.level:
                return raw
            levelled = self._read_levelled(image, turn)
        elif not self.level:
            return self._read_view(image, level=False, turn=turn)
        else:  # the look the last frame ended on first; the other only when needed
            def look(levelled: bool) -> Reading:
                return self._read_levelled(image, turn) if levelled else self._read_view(image, level=False, turn=turn)

            first = look(self._levelled_won)
            if self._sure(first, t):
                return first
            second = look(not self._levelled_won)
            raw, levelled = (second, first) if self._levelled_won else (first, second)
        best, self._other = (levelled, raw) if rank(levelled) > rank(raw) else (raw, levelled)
        self._levelled_won = best is levelled
        return best

    def _sure(self, reading: Reading, t: float | None) -> bool:
        """Whether a crop's first look settles the frame, so the other look is not read
        (`_read_crop`): at t, all its digits read with confidence SURE or more, and they follow the
        session's supported track."""
        return (
            t is not None and reading.status == "accepted" and len(reading.digits) == self.fmt.n_digits
            and reading.confidence >= SURE and self.sequence.supported and self.sequence.fits(reading.value, t)
        )

    def _turn_view(self) -> bool | None:
        """Whether to read the tracked crop turned level: never for a level display; for a tilted
        one, None while TURN_TRIALS frames are read both ways, then the way whose accepted readings
        were the more confident in sum."""
        if not self.tracker.tilted:
            self._restart_turn_trial()
            return False
        if self._turn_trials < TURN_TRIALS:
            return None
        return self._turn_votes[1] > self._turn_votes[0]

    def _restart_turn_trial(self) -> None:
        self._turn_votes, self._turn_trials = [0.0, 0.0], 0

    def _read_levelled(self, image: np.ndarray, turn: bool = False) -> Reading:
        return self._read_view(image, level=True, turn=turn).flagged("levelled")

    def _read_view(self, image: np.ndarray, level: bool, turn: bool = False) -> Reading:
        """The tracked crop read in its own pixels (its row level with `turn`), its digits then
        mapped to the frame."""
        dets, to_frame = self.tracker.detect_crop(image, level=level, turn=turn)
        reading = read_digits(dets, self.fmt, self.min_conf)
        reading = replace(reading, digits=reading.digits.transformed(to_frame))
        if self.tracker.smoothed:
            reading = reading.flagged("smoothed")
        return reading.flagged("turned") if turn and self.tracker.tilted else reading

    def look_again(self, image: np.ndarray, reading: Reading, t: float) -> Reading:
        """The crop's other reading (the one `_read_crop` set aside; without `level`, the crop read
        once more levelled, on failed frames only) replaces this frame's reading when the session
        prefers it:
        - this reading failed and the session cannot read the frame itself (`explains`), and the
          other is accepted and fits the session (`SequenceCheck.fits`: it follows a supported
          track, or there is none yet);
        - or both are accepted and differ, and only the other fits a supported track (under heavy
          JPEG the levelled crop reads a 9 as 5 with more confidence than the crop as it is).
        So a misread of the other look never moves a supported track, yet can start one where
        the first had none."""
        if not (self.second_look and self.use_crop) or self.tracker.roi is None:
            return reading
        if reading.status == "accepted":
            other = self._other
            if other is None or other.status != "accepted" or other.text == reading.text \
                    or self.sequence.fits(reading.value, t) or not self.sequence.fits(other.value, t):
                return reading
            again = other
        else:
            if self.sequence.explains(reading, t):
                return reading
            if self.level:
                again = self._other
            else:
                again = self._read_levelled(image, self._turned)
            if again is None or again.status != "accepted" or not self.sequence.fits(again.value, t):
                return reading
        self.tracker.follow(again.digits, image, whole=True)
        self._levelled_won = "levelled" in again.flags  # the look the frame ended on is read first next
        return again.flagged("second look")

    def process(self, frame: Frame) -> FrameResult:
        start = time.perf_counter()
        self._fit(frame.image)  # before the dedup gate, which compares the tracked region
        skip = self.dedup.update(frame.image, frame.t, self.tracker.roi)
        if skip is not None:
            result = FrameResult(frame.name, frame.index, frame.t, "skipped", None, "skipped", 0.0, skip)
        else:
            self._other = None
            image = self.exposed(frame.image)
            reading, mode = self._read_image(image, frame.t)
            if len(reading.digits) == self.fmt.n_digits:
                self._whole = (frame.t, reading.digits.xyxy)
                self.focus.add(image, reading.digits.xyxy)
            reading = self.look_again(image, reading, frame.t)
            if self.focus.blurred:  # confidently wrong, and steadily: no evidence for the session either
                reading = reading.with_verdict("held", self.focus.reason())
                self._unfocused = True
            else:
                if self._unfocused:  # in focus again: what it reads now is checked afresh
                    self.sequence.lose_sight()
                    self._unfocused = False
                reading = self.sequence.update(reading, frame.t)
            if self._stretched:
                reading = reading.flagged("stretched")
            ms = (time.perf_counter() - start) * 1000
            done = self.awaiting is not None and self.sequence.awaiting != self.awaiting.t
            result = FrameResult(frame.name, frame.index, frame.t, reading.status, reading, mode, ms,
                                 settles=self.settle() if done else None)
            if result.status == "held" and self.sequence.awaiting == frame.t:
                self.awaiting, self._awaiting_first = result, self.sequence.awaiting_first
        self.stats.add(result)
        return result

    def settle(self) -> FrameResult | None:
        """The final verdict of the frame whose reading waited for a frame to follow it
        (`SequenceCheck.awaiting`), now that the sequence has let it go: accepted, flagged
        `confirmed` (a reading the session could not check) or `followed` (one out of step with the
        clock: the first frame after a gap, a paused display), when the last frame read `confirmed`
        it; else held, for the reason the vote `doubted` it, as nothing followed an unchecked one,
        or as it was held. None when no frame waits. The read loop calls it once more when the
        source ends."""
        held, self.awaiting = self.awaiting, None
        if held is None:
            return None
        r, confirmed, doubted = held.reading, self.sequence.confirmed, self.sequence.doubted
        if confirmed == held.t:
            self.stats.held -= 1
            self.stats.accepted += 1
            flag = "confirmed" if self._awaiting_first else "followed"  # the next frame followed it at the clock's pace
            return replace(held, status="accepted", reading=r.with_verdict("accepted", None).flagged(flag), settles=None)
        if doubted is not None and doubted[0] == held.t:
            return replace(held, reading=r.with_verdict("held", doubted[1], doubted[2]), settles=None)
        if not self._awaiting_first:  # out of step with the clock, and no frame followed it: as it was held
            return replace(held, settles=None)
        why = f"sequence: {self.fmt.show(r.text)} could not be checked: no frame read after it followed it"
        return replace(held, reading=r.with_verdict("held", why), settles=None)
