"""The sequence check against misreads it was not tuned on: simulated sessions, no model involved.

A rowing monitor's MM:SS clock is filmed at a fixed spacing (with capture jitter). Each frame's
reading is the truth, disturbed the ways a detector gets a seven-segment display wrong:

  missed       a digit not found (three boxes): held by the reader before the sequence sees it;
  misread      one digit taken for a digit one segment away (a faint segment: 8 -> 0, 9 -> 3; a
               stray one: 5 -> 9), confidently; its true digit is the box's second class half the time;
  mid-update   a frame within 0.3 s of a tick shows, in each changing place, the new digit with
               the old one's segments over it (3 -> 4 shows as 9); either value counts as right;
  faint        in some sessions, one segment of one place reads flipped for a third of the
               session (glare washes it out, or in dim light an unlit segment shows): the same
               misread frame after frame, e.g. 00:0x read as 80:0x, which agrees with itself;
  dim          in some sessions, one minutes place loses its lit segments at random for half the
               session, each segment on a frame with probability 0.4 (a 9 read as 3, 4 or 5
               in turn, as in run3 filmed with a third of the light): the model reads the digit
               nearest what is left, confidently;
  reset        in some sessions the display is reset to 00:00 midway and counts from there: the
               reader must follow it;
  scan         in some sessions the monitor is in SCAN mode: 6 s of the time, then 6 s each of
               the stroke count, the total count and the calories (a Sunny monitor's order);
               the counts with blank leading places read as fewer digits, the total count as
               four (31:26 as a time), advancing at the stroke rate (18-36 a minute). No reading
               of those frames is right: held is what the reader should make of them.

Every session is read by `edge.sequence.SequenceCheck` once per policy, and scored like a real
session: right (accepted and equal to the truth), wrong-accepted, held. `wide` accepts anything in
the wide window (2 units/s + 3); `provisional` also holds a reading that runs ahead of the clock
until the next frame follows it; `shadow guard` also refuses to re-anchor an established
sequence on readings that are its own expected values with one digit changed; `segment vote` also
holds a reading whose steady places the recent frames' segments contradict; `vote decode` also
reads such a held reading as the track's time where the vote makes its digit; `first waits` also
holds the first reading until a sure one follows it, then counts it (as the read loop revises
it); `default` (the reader's) also moves a supported track only on held readings that keep the
clock over `SequenceCheck.scan_span` seconds, and moves any track on such readings across the
frames between them (the time coming back between the other quantities of a scanning display).
Frame times are either the capture times (a live camera) or a guess of 1 s per frame for a folder
replayed as a camera (the frames being `--spacing` apart).

    python bench/sequence_sim.py [--sessions 200] [--frames 200] [--misread 0.08] [--faint 0.3] [--reset 0.3] [--scan 0.3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.detections import Detections  # noqa: E402
from edge.labels import DIGIT_TO_CLASS  # noqa: E402
from edge.reading import DisplayFormat, read_digits  # noqa: E402
from edge.segments import SEGMENTS  # noqa: E402
from edge.sequence import SequenceCheck  # noqa: E402

TIME = DisplayFormat.parse("time")
DIGITS = "0123456789"
# Digits one segment apart: what a faint or a stray segment makes of a digit.
NEIGHBOURS = {
    d: [e for e in DIGITS if e != d and len(set(SEGMENTS[d]) ^ set(SEGMENTS[e])) == 1] for d in DIGITS
}
BY_SEGMENTS = {frozenset(SEGMENTS[d]): d for d in DIGITS}


def detections(text: str, rng: np.random.Generator, misread: dict[int, str] | None = None) -> Detections:
    """Boxes for the digits of `text` in a row, each with ten class scores; `misread` maps a place
    to the digit the model believes it sees there."""
    misread = misread or {}
    n = len(text)
    xyxy = np.array([[100 + 40 * i, 100, 130 + 40 * i, 160] for i in range(n)], np.float32)
    scores = np.full((n, 10), 0.01, np.float32)
    for i, true in enumerate(text):
        shown = misread.get(i, true)
        top = rng.uniform(0.6, 0.95)
        scores[i, DIGIT_TO_CLASS[shown]] = top
        if shown != true:
            second = true if rng.random() < 0.5 else rng.choice([d for d in DIGITS if d not in (true, shown)])
            scores[i, DIGIT_TO_CLASS[second]] = rng.uniform(0.1, 0.3)
    cls = scores.argmax(1)
    return Detections(xyxy, scores.max(1), cls, scores)


POLICIES = {
    "wide": dict(provisional=False, shadow_guard=False, steady_frames=None, confirm_first=False, scan_span=None),
    "provisional": dict(shadow_guard=False, steady_frames=None, confirm_first=False, scan_span=None),
    "shadow guard": dict(steady_frames=None, confirm_first=False, scan_span=None),
    "segment vote": dict(vote_decode=False, confirm_first=False, scan_span=None),  # the steady places' vote holds doubted readings
    "vote decode": dict(confirm_first=False, scan_span=None),  # and reads a held shadow as the track's time where the vote makes its digit
    "first waits": dict(scan_span=None),  # and a first reading waits for the next frame to follow it
    "default": {},  # and a track moves only on held readings that keep the clock (a scanning display)
}


def flipped(digit: str, segment: str) -> str:
    """The digit a place reads as with one segment flipped; itself when that is no digit."""
    return BY_SEGMENTS.get(frozenset(SEGMENTS[digit]) ^ {segment}, digit)


def faded_digit(digit: str, rng: np.random.Generator, p: float = 0.4) -> str:
    """The digit a place reads as when each of its lit segments goes dark with probability p: the
    digit nearest the segments left (fewest segments flipped; a tie drawn at random)."""
    left = {s for s in SEGMENTS[digit] if rng.random() >= p}
    cost = {d: len(left ^ set(SEGMENTS[d])) for d in DIGITS}
    nearest = [d for d in DIGITS if cost[d] == min(cost.values())]
    return digit if digit in nearest else str(rng.choice(nearest))


def session(rng: np.random.Generator, frames: int, spacing: float, misread: float, missed: float,
            faint: float = 0.0, reset: float = 0.0, dim: float = 0.0, scan: float = 0.0):
    """(capture t, truth options, detections) per frame of one simulated session; a frame of
    another quantity than the time has no right reading."""
    start = int(rng.integers(0, 5940))
    phase = rng.uniform(0, 1)
    # A faint (or ghost) segment: one place, one segment, a third of the session.
    stretch, faint_place, segment = range(0), 0, "a"
    if rng.random() < faint:
        first = int(rng.integers(0, frames * 2 // 3))
        stretch, faint_place, segment = range(first, first + frames // 3), int(rng.integers(0, 4)), str(rng.choice(list("abcdefg")))
    reset_at = int(rng.integers(frames // 4, frames * 3 // 4)) if rng.random() < reset else frames
    dimmed, dim_place = range(0), 0
    if dim and rng.random() < dim:  # no draw without it: the other disturbances stay as they were
        first = int(rng.integers(0, frames // 2))
        dimmed, dim_place = range(first, first + frames // 2), int(rng.integers(0, 2))
    scanning = bool(scan) and rng.random() < scan
    if scanning:
        scan_phase, strokes, total = rng.uniform(0, 24), rng.uniform(18, 36) / 60, int(rng.integers(1000, 9000))
    out = []
    for k in range(frames):
        t = k * spacing + rng.uniform(-0.1, 0.1)
        slot = int((t + scan_phase) // 6) % 4 if scanning else 0
        if slot:  # the stroke count, the total count or the calories, blank leading places unread
            count = {1: int(t * strokes), 2: total + int(t * strokes), 3: int(t * 0.12)}[slot]
            out.append((t, set(), detections(str(count % 10000), rng)))
            continue
        tick = int(np.floor(t + phase))
        if k >= reset_at:  # counts from 00:00 at frame reset_at
            start, tick = 0, max(tick - int(np.floor(reset_at * spacing + phase)), 0)
        new, old = TIME.text((start + tick) % 5940), TIME.text((start + tick - 1) % 5940)
        if k >= reset_at and tick == 0:
            old = new  # the reset frame: no tick to catch mid-update
        truth = {new}
        text, wrong = new, {}
        if k in stretch and flipped(new[faint_place], segment) != new[faint_place]:
            wrong = {faint_place: flipped(new[faint_place], segment)}
        elif k in dimmed and (faded := faded_digit(new[dim_place], rng)) != new[dim_place]:
            wrong = {dim_place: faded}
        elif (t + phase) % 1.0 < 0.3 and rng.random() < 0.5:
            # Caught as the display changes: old segments still lit where the digit changed.
            shown = "".join(
                BY_SEGMENTS.get(frozenset(SEGMENTS[a]) | frozenset(SEGMENTS[b]), a) for a, b in zip(new, old)
            )
            truth.add(old)
            wrong = {i: c for i, c in enumerate(shown) if c != new[i]}
        elif rng.random() < misread:
            place = int(rng.integers(0, 4))
            if NEIGHBOURS[new[place]]:
                wrong = {place: str(rng.choice(NEIGHBOURS[new[place]]))}
        dets = detections(text, rng, wrong)
        if rng.random() < missed:
            dets = dets[np.array([0, 1, 3])]
        out.append((t, truth, dets))
    return out


def score(frames, policy: dict, times: list[float]) -> tuple[int, int, int]:
    """Right, wrong-accepted and held frames as the session log keeps them: a frame that waited is
    counted as the read loop revises it, and a track a re-anchor `supersedes` is withdrawn (held)."""
    check = SequenceCheck(TIME, **policy)
    outcomes, r = [], None  # per frame: "right", "wrong" or "held"
    track = None  # the frame the track's accepted readings begin at
    for k, ((_, truth, dets), t) in enumerate(zip(frames, times)):
        before, r = r, check.update(read_digits(dets, TIME), t)
        if check.confirmed is not None:  # the frame before waited on this one, and this one followed it
            outcomes[k - 1] = "right" if before.text in frames[k - 1][1] else "wrong"
            track = k - 1
        if "supersedes" in r.flags and track is not None:
            outcomes[track:] = ["held"] * (k - track)
        outcomes.append("held" if r.status != "accepted" else "right" if r.text in truth else "wrong")
        if r.status == "accepted" and (track is None or "re-anchored" in r.flags):
            track = k
    return outcomes.count("right"), outcomes.count("wrong"), outcomes.count("held")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--misread", type=float, default=0.08, help="share of frames with one misread digit")
    ap.add_argument("--missed", type=float, default=0.05, help="share of frames with a digit not found")
    ap.add_argument("--faint", type=float, default=0.3, help="share of sessions with one segment read flipped for a third of it")
    ap.add_argument("--dim", type=float, default=0.0, help="share of sessions with a minutes place losing segments at random for half of it")
    ap.add_argument("--reset", type=float, default=0.3, help="share of sessions whose display is reset to 00:00 midway")
    ap.add_argument("--scan", type=float, default=0.0, help="share of sessions whose display shows other quantities in turn (SCAN)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    print(f"{args.sessions} simulated sessions x {args.frames} frames; misread {args.misread:.0%}, missed {args.missed:.0%}, "
          f"faint segment in {args.faint:.0%} of sessions, reset in {args.reset:.0%}, dim place in {args.dim:.0%}, "
          f"scan in {args.scan:.0%}")
    print(f"{'frames':<30} {'policy':<12} {'right':>8} {'wrong-accepted':>15} {'held':>8}")
    for spacing, clock in ((1.0, "capture"), (1.5, "capture"), (1.5, "guess 1 s"), (3.0, "guess 1 s"), (6.0, "guess 1 s")):
        totals = {name: np.zeros(3, int) for name in POLICIES}
        for s in range(args.sessions):
            rng = np.random.default_rng([args.seed, s, int(spacing * 10)])
            frames = session(rng, args.frames, spacing, args.misread, args.missed, args.faint, args.reset, args.dim, args.scan)
            times = [t for t, _, _ in frames] if clock == "capture" else [float(k) for k in range(len(frames))]
            for name, policy in POLICIES.items():
                totals[name] += score(frames, policy, times)
        n = args.sessions * args.frames
        label = f"{spacing:g} s apart, t = {clock}"
        for name in POLICIES:
            right, wrong, held = totals[name]
            print(f"{label:<30} {name:<12} "
                  f"{right / n:>8.2%} {wrong / n:>15.2%} {held / n:>8.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
