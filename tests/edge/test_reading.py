import numpy as np
import pytest

from edge.detections import Detections
from edge.labels import DIGIT_TO_CLASS
from edge.result import FrameResult
from edge.reading import DisplayFormat, read_digits
from edge.review.select import SelectConfig, reasons_for
from edge.sequence import SequenceCheck
from tests.conftest import bench_module, digits_at

TIME = DisplayFormat.parse("time")
# The sequence tests below start from a first reading taken at once (`confirm_first=False`): the
# rule they test is another. A first reading waiting on the next frame has tests of its own.


def test_digits_are_ordered_by_position_not_by_detection_order():
    dets = digits_at("0753")
    shuffled = dets[np.array([2, 0, 3, 1])]
    r = read_digits(shuffled, TIME)
    assert (r.status, r.text, r.value) == ("accepted", "0753", 7 * 60 + 53)


def test_overlapping_boxes_on_one_place_keep_the_more_confident():
    dets = digits_at("9524", conf=[0.8, 0.9, 0.9, 0.9])
    # The peer's habit: a "4" on top of the leading 9, and a "1" inside the last box.
    extra = Detections(
        np.array([[102, 101, 131, 160], [228, 100, 240, 160]], np.float32), [0.6, 0.5], [DIGIT_TO_CLASS["4"], DIGIT_TO_CLASS["1"]]
    )
    r = read_digits(Detections.concat([dets, extra]), TIME)
    assert r.text == "9524" and r.status == "accepted"
    assert "overlap" in r.flags


def test_boxes_off_the_main_row_are_ignored():
    dets = digits_at("1234")
    far = digits_at("99", y0=400, h=20, w=10)  # small print elsewhere on the monitor
    assert read_digits(Detections.concat([dets, far]), TIME).text == "1234"


def test_wrong_digit_count_invalid_time_and_low_confidence_are_held_with_reasons():
    assert read_digits(digits_at("123"), TIME).reason == "3 digits, expected 4"
    bad = read_digits(digits_at("1275"), TIME)
    assert bad.status == "held" and "not a valid time" in bad.reason
    low = read_digits(digits_at("1234", conf=[0.9, 0.3, 0.9, 0.9]), TIME, min_conf=0.5)
    assert low.status == "held" and low.reason.startswith("low confidence")
    assert low.confidence == pytest.approx(0.3)


def test_counter_format():
    fmt = DisplayFormat.parse("digits:3")
    assert read_digits(digits_at("275"), fmt).value == 275
    with pytest.raises(ValueError):
        DisplayFormat.parse("digits:x")


def _seq(readings, dt=1.5):
    check = SequenceCheck(TIME, confirm_first=False)
    out = []
    for i, text in enumerate(readings):
        r = read_digits(digits_at(text), TIME)
        out.append(check.update(r, i * dt))
    return out


def test_time_advancing_and_rolling_over_at_99_minutes_is_accepted():
    out = _seq(["9857", "9859", "0001", "0002", "0004"])
    assert [r.status for r in out] == ["accepted"] * 5


def test_a_reading_that_contradicts_the_sequence_is_held():
    out = _seq(["0750", "0752", "4753", "0755"])
    assert [r.status for r in out] == ["accepted", "accepted", "held", "accepted"]
    assert out[2].reason.startswith("sequence: 47:53 does not follow 07:52")


def test_a_reading_behind_the_last_accepted_one_is_held_and_the_session_reads_on():
    # Night-time run3, frames 180-184: 01:01, then 01:06 read as 01:00 with its 6 losing segments.
    # A clock never shows less than it showed: 01:00 is a misread, not a fading old segment.
    out = _seq(["0059", "0101", "0100", "0104", "0106"])
    assert [r.status for r in out] == ["accepted", "accepted", "held", "accepted", "accepted"]
    assert out[2].reason.startswith("sequence: 01:00 does not follow 01:01")
    assert out[3].text == "0104"


def test_a_first_reading_waits_for_a_sure_reading_to_follow_it():
    check = SequenceCheck(TIME)
    first = check.update(read_digits(digits_at("3211"), TIME), 0.0)  # 95:24 misread: nothing to check it by
    assert first.status == "held" and "first reading" in first.reason and check.awaiting == 0.0
    second = check.update(read_digits(digits_at("9525"), TIME), 1.0)  # does not follow 32:11: waits in its place
    assert second.status == "held" and check.awaiting == 1.0 and check.confirmed is None
    unsure = check.update(read_digits(digits_at("9526", conf=[0.9, 0.3, 0.9, 0.9]), TIME), 2.0)
    assert unsure.status == "held" and check.awaiting == 1.0  # no sure reading in this frame: it waits on
    third = check.update(read_digits(digits_at("9527"), TIME), 3.0)
    assert third.status == "accepted" and check.confirmed == 1.0 and check.awaiting is None
    assert check.update(read_digits(digits_at("3228"), TIME), 4.0).status == "held"  # 95:27 is the track now


def test_a_first_reading_waits_through_first_wait_frames_at_most():
    check = SequenceCheck(TIME, first_wait=2)
    check.update(read_digits(digits_at("0755"), TIME), 0.0)
    for t in (1.0, 2.0, 3.0):
        check.update(read_digits(digits_at("0756", conf=[0.9, 0.3, 0.9, 0.9]), TIME), t)
    assert check.awaiting is None
    late = check.update(read_digits(digits_at("0759"), TIME), 4.0)
    assert late.status == "held" and check.awaiting == 4.0  # 07:59 waits in its turn


def test_after_a_long_dark_spell_a_reading_waits_again():
    check = SequenceCheck(TIME)
    for text, t in (("1000", 0.0), ("1001", 1.0)):
        check.update(read_digits(digits_at(text), TIME), t)
    assert check.anchor == (601.0, 1.0)
    # 50 minutes on, any time follows 10:01 (the display may have rolled over): nothing checks 00:05.
    r = check.update(read_digits(digits_at("0005"), TIME), 3001.0)
    assert r.status == "held" and "first reading in a long while" in r.reason
    assert check.update(read_digits(digits_at("0006"), TIME), 3002.0).status == "accepted"
    assert check.confirmed == 3001.0 and check.anchor == (6.0, 3002.0)
    assert check.update(read_digits(digits_at("4007"), TIME), 3003.0).status == "held"  # checked as before


def test_agreeing_readings_re_anchor_after_a_reset():
    out = _seq(["2210", "2212", "0000", "0001", "0003", "0004"])
    assert [r.status for r in out] == ["accepted", "accepted", "held", "held", "accepted", "accepted"]
    assert "re-anchored" in out[4].flags


def _scored(text: str, second: dict[int, tuple[str, float]] | None = None, conf: float = 0.9):
    """Detections for `text` whose box i also scores `second[i]` = (digit, score)."""
    from edge.labels import DIGIT_TO_CLASS

    dets = digits_at(text, conf=conf)
    scores = np.full((len(text), 10), 0.01, np.float32)
    for i, c in enumerate(text):
        scores[i, DIGIT_TO_CLASS[c]] = conf
    for i, (digit, score) in (second or {}).items():
        scores[i, DIGIT_TO_CLASS[digit]] = score
    return Detections(dets.xyxy, dets.confidence, dets.class_id, scores)


def test_the_session_decides_between_a_digits_two_likely_classes():
    check = SequenceCheck(TIME, confirm_first=False)
    check.update(read_digits(_scored("9532"), TIME), 0.0)
    # The leading 9 scored a little higher as 4: 45:33 contradicts the session, 95:33 fits it.
    r = check.update(read_digits(_scored("4533", {0: ("9", 0.4)}, conf=0.6), TIME), 1.5)
    assert (r.status, r.text) == ("accepted", "9533")
    assert "sequence-decoded" in r.flags and r.confidence == pytest.approx(0.4)


def test_no_decoding_without_support_from_the_boxes():
    check = SequenceCheck(TIME, confirm_first=False)
    check.update(read_digits(_scored("9532"), TIME), 0.0)
    r = check.update(read_digits(_scored("4533", {0: ("9", 0.05)}, conf=0.6), TIME), 1.5)
    assert r.status == "held" and r.reason.startswith("sequence")


def test_decoding_takes_only_second_best_classes_and_one_digit():
    check = SequenceCheck(TIME, confirm_first=False)
    check.update(read_digits(_scored("9532"), TIME), 0.0)
    # 9 is only the third choice of the leading box: no decoding.
    third = _scored("4533", {0: ("9", 0.3)}, conf=0.6)
    third.class_scores[0, 6] = 0.4  # a "7" ranks second
    assert check.update(read_digits(third, TIME), 1.5).status == "held"
    # Two digits would have to change: no decoding either.
    two = _scored("4573", {0: ("9", 0.4), 2: ("3", 0.4)}, conf=0.6)
    assert check.update(read_digits(two, TIME), 1.5).status == "held"


def test_decoding_is_off_when_asked():
    check = SequenceCheck(TIME, decode_min=None, confirm_first=False)
    check.update(read_digits(_scored("9532"), TIME), 0.0)
    assert check.update(read_digits(_scored("4533", {0: ("9", 0.4)}, conf=0.6), TIME), 1.5).status == "held"


def test_candidates_cover_the_rollover():
    check = SequenceCheck(TIME, confirm_first=False)
    check.update(read_digits(_scored("9858"), TIME), 0.0)
    texts = check.candidates(1.0)
    assert "9859" in texts and "0000" in texts
    assert "0001" in check.candidates(2.0)
    assert "0100" not in texts


def test_a_display_past_60_minutes_never_wraps_like_a_clock():
    check = SequenceCheck(TIME, confirm_first=False)
    check.update(read_digits(_scored("9538"), TIME), 0.0)
    assert not any(text.startswith("35") for text in check.candidates(1.0))
    # 35:39 is 95:39 minus an hour: not a rollover of a display that shows 95 minutes.
    r = check.update(read_digits(_scored("3539"), TIME), 1.0)
    assert r.status == "held"


def _step(previous: str, shown: str, fmt=TIME, dt: float = 1.0):
    check = SequenceCheck(fmt, confirm_first=False)
    check.update(read_digits(digits_at(previous), fmt), 0.0)
    return check.update(read_digits(digits_at(shown), fmt), dt)


@pytest.mark.parametrize(
    "previous, shown, new",
    [
        ("9739", "9790", "9740"),  # 3 -> 4 with the old 3 still there is a 9; 9 -> 0 already done
        ("9652", "9659", "9654"),  # one second on, 3 -> 4 caught half-way
        ("9859", "8808", "0000"),  # the 99-minute rollover: 9 -> 0 over a 9 is an 8, in every place
        ("9616", "9610", "9617"),  # 6 -> 7 with the old middle bar faded first: a 0
    ],
)
def test_a_frame_caught_mid_update_reads_as_the_new_value(previous, shown, new):
    r = _step(previous, shown)
    assert (r.status, r.text) == ("accepted", new) and "mid-update" in r.flags


def test_a_mid_update_needs_every_changing_place_to_show_its_new_segments():
    # 96:50 after 96:58 would mix an old 6 with a new 0 (96:59 -> 97:00): places switch together,
    # so this is a misread (an 8 taken for a 0), not a mid-update.
    assert _step("9658", "9650").status == "held"
    # An overlay that no expected step explains stays held too (47:53 is no step from 07:52).
    assert _step("0752", "4753").status == "held"
    # After 96:17 the next steps bring an 8 and a 9, both with a middle bar: a 0 is no step.
    assert _step("9617", "9610").status == "held"


def _after(previous: str, shown: Detections, dt: float = 1.5, **options):
    check = SequenceCheck(TIME, confirm_first=False, **options)
    check.update(read_digits(_scored(previous), TIME), 0.0)
    return check.update(read_digits(shown, TIME), dt)


def test_a_frame_read_as_the_old_digit_with_the_new_one_second_is_the_new_value():
    # run3's 96:43, the 2 before it still faint, read 96:42 under JPEG 15: its 3 scored 0.18
    # against the 2's 0.62. The display had stepped: the new segments are on.
    r = _after("9641", _scored("9642", {3: ("3", 0.18)}, conf=0.62))
    assert (r.status, r.text) == ("accepted", "9643") and "mid-update" in r.flags
    # Every place that changes must score its new digit second: 96:39 -> 96:40 changes two.
    r = _after("9638", _scored("9639", {2: ("4", 0.2), 3: ("0", 0.2)}, conf=0.6))
    assert (r.status, r.text) == ("accepted", "9640")
    assert _after("9638", _scored("9639", {3: ("0", 0.2)}, conf=0.6)).text == "9639"  # the 3 scored nothing else


def test_a_steady_digit_is_not_read_as_stepping():
    assert _after("9641", _scored("9642", {3: ("3", 0.04)}, conf=0.62)).text == "9642"  # a steady digit's faint second
    assert _after("9641", _scored("9642", {3: ("1", 0.3)}, conf=0.62)).text == "9642"  # the digit before: no step to it
    # A new digit read with a ghost of the last may score the one after it second by chance (run3's
    # 01:24 over a faint 3, under glare, its 5 at 0.24 of the 4); a 4 -> 5 step lights two segments
    # at once that no 4 shows, so a frame in that step is never read as a 4.
    assert _after("0123", _scored("0124", {3: ("5", 0.16)}, conf=0.67)).text == "0124"
    # A step the clock has not reached is no reading of it: half a second after 96:41 (run3's pace
    # of 1.1 a second), 96:43 is as far ahead as the clock allows, and 96:44 runs ahead.
    check = SequenceCheck(TIME, confirm_first=False)
    for i, text in enumerate(("9636", "9638", "9639", "9641")):
        check.update(read_digits(_scored(text), TIME), i * 1.5)
    assert check.update(read_digits(_scored("9643", {3: ("4", 0.3)}, conf=0.62), TIME), 5.0).text == "9643"
    assert _after("9641", _scored("9642", {3: ("3", 0.3)}, conf=0.62), step_second=None).text == "9642"  # off


def test_a_step_taken_wrongly_costs_its_frame_alone():
    # At 5 frames a second a steady 96:42 once scored its 3 second at 0.12: taken as 96:43, it made
    # the session hold the 96:42 frames after it as going back, and early in a session re-anchor
    # on them (withdrawing what was logged). Anchored as read, the frames after it follow.
    check = SequenceCheck(TIME, confirm_first=False)
    shown = [_scored("9642"), _scored("9642", {3: ("3", 0.1)}, conf=0.8), _scored("9642"), _scored("9642"),
             _scored("9642"), _scored("9643")]
    said = [check.update(read_digits(d, TIME), i * 0.2) for i, d in enumerate(shown)]
    assert [r.status for r in said] == ["accepted"] * 6 and not any("re-anchored" in r.flags for r in said)
    assert [r.text for r in said] == ["9642", "9643", "9642", "9642", "9642", "9643"]


def test_a_counter_is_never_read_as_stepping():
    # A stroke count's pace is no clock: a step taken wrongly was held against, and the count then
    # re-anchored lower, which the session log closes as a reset.
    counter = DisplayFormat("digits", 3)
    check = SequenceCheck(counter, confirm_first=False)
    check.update(read_digits(digits_at("128"), counter), 0.0)
    scores = _scored("128", {2: ("9", 0.12)}, conf=0.8)
    assert check.update(read_digits(scores, counter), 1.0).text == "128"


def test_expected_steps_follow_the_clock_and_a_counter_steps_once():
    check = SequenceCheck(TIME, confirm_first=False)
    check.update(read_digits(digits_at("9858"), TIME), 0.0)
    assert check.steps(1.0) == [("9858", "9859"), ("9859", "0000"), ("9859", "9900")]
    assert len(check.steps(3.0)) == 7  # up to four steps ahead; past 98:59, each as 99:xx or 00:xx
    counter = SequenceCheck(DisplayFormat.parse("digits:3"), confirm_first=False)
    counter.update(read_digits(digits_at("999"), counter.fmt), 0.0)
    assert counter.steps(5.0) == [("999", "000")]


def _times(readings, times, **options):
    check = SequenceCheck(TIME, **{"confirm_first": False, **options})
    return [check.update(read_digits(digits_at(text), TIME), t) for text, t in zip(readings, times)]


def test_a_misread_that_runs_ahead_of_the_clock_is_held_and_the_next_frames_read_on():
    # 13:03 with its 3 seen as a 7: four seconds ahead in one, and no step of the clock shows so.
    out = _times(["1302", "1307", "1304", "1305"], [0, 1, 2, 3])
    assert [r.status for r in out] == ["accepted", "held", "accepted", "accepted"]
    assert "runs ahead of 13:02" in out[1].reason
    # The wide window alone accepts it, and the true 13:04 after it is held as going back.
    wide = _times(["1302", "1307", "1304", "1305"], [0, 1, 2, 3], provisional=False)
    assert [r.status for r in wide] == ["accepted", "accepted", "held", "held"]


def test_a_jump_that_the_next_frame_follows_is_accepted():
    out = _times(["1302", "1307", "1308", "1309"], [0, 1, 2, 3])
    assert [r.status for r in out] == ["accepted", "held", "accepted", "accepted"]
    assert "jump-confirmed" in out[2].flags


def test_frames_replayed_faster_than_captured_set_the_pace():
    # A folder of frames 3 s apart replayed at a guessed 1 s: after a few frames the pace is
    # learned and every step of three is accepted.
    texts = [TIME.text(600 + 3 * k) for k in range(12)]
    out = _times(texts, range(12))
    assert all(r.status == "accepted" for r in out[4:])
    assert sum(r.status == "accepted" for r in out) >= 10


def test_a_folder_replayed_faster_holds_a_seconds_misread_two_ahead():
    # run3's way: frames about 1.5 s apart replayed at a guessed 1 s step 1 or 2 seconds. A 6 read
    # as an 8 puts 98:48 two ahead of the truth after 98:44; the true 98:47 after it would then
    # read as going back.
    texts = [TIME.text(98 * 60 + s) for s in (20, 21, 23, 24, 26, 27, 29, 30, 32, 33, 35, 36, 38, 39, 41, 42, 44)]
    out = _times(texts + ["9848", "9847", "9849"], range(len(texts) + 3))
    assert all(r.status == "accepted" for r in out[4 : len(texts)])  # every step of the truth
    misread, true_next, after = out[len(texts) :]
    assert misread.status == "held" and "runs ahead of 98:44" in misread.reason
    assert (true_next.status, after.status) == ("accepted", "accepted")
    # A misread that falls behind the clock (98:34 three frames after 98:32, where the display
    # showed 98:37) is held; the true 98:38 on the next frame is measured from 98:32.
    lagging = texts[:8] + ["9832", "834", "835", "9834", "9838", "9840"]  # two frames read 3 digits
    out = _times(lagging, range(len(lagging)))
    assert [r.status for r in out[-3:]] == ["held", "accepted", "accepted"]
    assert "falls behind the clock from 98:32" in out[-3].reason
    # The same frames 3 s apart: the pace is learned as 3, and a step of 4 is the truth.
    slow = [TIME.text(600 + 3 * k + (k % 2)) for k in range(16)]
    assert all(r.status == "accepted" for r in _times(slow, range(16))[4:])


def test_a_folder_of_frames_further_apart_than_the_window_is_followed_at_its_pace():
    # run3's every third frame, 4.5 s apart, replayed at a guessed 1 s: steps of 4 to 6 a frame,
    # more than the plausible window's 2 a second plus 3. The learned pace widens the window.
    steps = [4, 5, 4, 5, 5, 4, 5, 6, 4, 5, 4, 5, 6, 4, 5, 4, 6]
    values = np.cumsum([95 * 60] + steps)
    out = _times([TIME.text(v) for v in values], range(len(values)))
    assert all(r.status == "accepted" for r in out[3:])


def test_a_folder_beyond_the_window_from_its_first_frame_is_followed_from_its_third():
    # Frames 6 s apart replayed at a guessed 1 s: no reading follows the one before it in the
    # plausible window (2 a second plus 3), so, with no pace known yet, every frame was held.
    check = SequenceCheck(TIME)
    values = np.cumsum([95 * 60 + 24, 6, 6, 5, 7, 6, 6, 6, 5])
    out = [check.update(read_digits(digits_at(TIME.text(v).replace(":", "")), TIME), float(k))
           for k, v in enumerate(values)]
    assert [r.status for r in out[:2]] == ["held", "held"]
    assert all(r.status == "accepted" for r in out[2:])
    assert check.pace() == pytest.approx(6.0, abs=0.2)
    # The third frame confirmed the second (the read loop revises it); the first stays held.
    replay = SequenceCheck(TIME)
    for k in range(3):
        replay.update(read_digits(digits_at(TIME.text(values[k]).replace(":", "")), TIME), float(k))
    assert replay.confirmed == 1.0


@pytest.mark.parametrize("texts", [
    ["1000", "1017", "1041"],  # steps of 17 and 24: no steady pace
    ["1000", "1030", "1020"],  # back
    ["1000", "1200", "1400"],  # two minutes a frame: a minutes digit misread, not a spacing
])
def test_first_readings_beyond_the_window_that_keep_no_steady_pace_stay_held(texts):
    check = SequenceCheck(TIME)
    out = [check.update(read_digits(digits_at(text), TIME), float(k)) for k, text in enumerate(texts)]
    assert all(r.status == "held" for r in out) and check.anchor is None


@pytest.mark.parametrize("fps", [10, 30])
def test_a_time_lapse_video_is_followed_at_the_pace_its_display_shows(fps):
    # Frames 1.5 s apart played `fps` a second: the display advances 15 or 45 a second of the
    # video's time, and 16 steps span under 2 s of it. Taken at a pace of 1, the steady places'
    # vote held every frame whose seconds' tens had changed within the last few.
    values = [95 * 60 + 24 + (3 * k) // 2 for k in range(120)]
    out = _times([TIME.text(v) for v in values], [k / fps for k in range(120)], confirm_first=True)
    assert all(r.status == "accepted" for r in out[1:])


def _folder_with_a_gap(missing: int):
    """run3's pace, about 1.5 s a frame at a guessed 1 s, with `missing` frames left out after the 12th."""
    values = [95 * 60 + (3 * k) // 2 for k in range(30 + missing)]
    del values[12 : 12 + missing]
    return [TIME.text(v) for v in values]


def test_frames_missing_from_a_folder_cost_the_frame_after_the_gap_not_the_rest():
    texts = _folder_with_a_gap(6)  # 9 s of the display missing: 95:16, then 95:27 a guessed second later
    out = _times(texts, range(len(texts)))
    assert all(r.status == "accepted" for r in out[2:12])
    assert out[12].status == "held" and "runs ahead of 95:16" in out[12].reason
    assert out[13].status == "accepted" and "jump-confirmed" in out[13].flags
    assert all(r.status == "accepted" for r in out[13:])
    # More than a minute ahead is no gap: a reset, or a misread.
    out = _times(_folder_with_a_gap(44), range(30))
    assert [r.status for r in out[12:14]] == ["held", "held"] and "does not follow 95:16" in out[12].reason
    # A live camera's frame times are the clock: a display 9 ahead a second later is no gap there.
    live = [TIME.text(v) for v in [95 * 60 + k for k in range(12)] + [95 * 60 + 20 + k for k in range(4)]]
    out = _times(live, range(len(live)))
    assert all(r.status == "accepted" for r in out[2:12])
    assert [r.status for r in out[12:14]] == ["held", "held"] and "does not follow" in out[12].reason


def test_a_reading_that_falls_behind_the_clock_is_held_and_the_true_frames_after_it_read_on():
    # A live camera; 13:09 read again four seconds on (a seconds digit misread low under glare).
    # Taken, the track would stand 4 s behind, and the true 13:14 after it would not follow.
    texts = [TIME.text(13 * 60 + k) for k in range(10)] + ["1309", "1314", "1315"]
    out = _times(texts, list(range(10)) + [13, 14, 15])
    assert out[10].status == "held" and "falls behind the clock from 13:09" in out[10].reason
    assert [r.status for r in out[11:]] == ["accepted", "accepted"]
    # One frame on, the display may not have stepped yet: a repeat is no reason to hold.
    assert _times(["1300", "1301", "1302", "1302"], [0, 1, 2, 3])[3].status == "accepted"


def test_a_paused_display_costs_one_frame():
    # The rower stopped and the monitor's time with him: the frame after the pause that shows the
    # same time confirms the one held.
    texts = [TIME.text(13 * 60 + k) for k in range(6)] + ["1306", "1306", "1307"]
    out = _times(texts, list(range(6)) + [10, 11, 12])
    assert out[6].status == "held" and "falls behind" in out[6].reason
    assert out[7].status == "accepted" and "jump-confirmed" in out[7].flags
    assert out[8].status == "accepted"


def _paced_1_5(start: int, frames: int) -> list[str]:
    """run3's pace at a guessed 1 s a frame: steps of 2 and 1 in turn."""
    return [TIME.text(start + (3 * k) // 2) for k in range(frames)]


def test_a_mid_update_step_the_clock_has_passed_is_no_reading():
    # 00:55 at the pace of 1.5 a frame, then a frame three on showing 00:50. A 6 turning into a 7
    # shows as a 0, but 00:56 -> 00:57 lies behind the clock (00:59 by now): an 8 that lost its
    # middle bar, held. One frame on, the same step is where the clock is.
    texts = _paced_1_5(19, 25)  # ... 00:55 at t = 24
    assert texts[-1] == "0055"
    later = _times(texts + ["0050"], list(range(25)) + [27])
    assert later[-1].status == "held"
    next_frame = _times(texts[:-1] + ["0055", "0050"], list(range(25)) + [25])
    assert (next_frame[-1].status, next_frame[-1].text) == ("accepted", "0057") and "mid-update" in next_frame[-1].flags


@pytest.mark.parametrize("dt, expected", [(2.0, "1317"), (3.0, "1318"), (2.5, None)])
def test_where_the_step_and_the_class_scores_disagree_the_clock_decides(dt, expected):
    # 13:10 after 13:15: a 16 -> 17 caught as it changes (a 7 over a fading 6 shows a 0), or an 8
    # whose middle bar washed out (its box scores 8 second). The one nearer the clock is read;
    # half-way between them, neither.
    check = SequenceCheck(TIME, confirm_first=False)
    check.update(read_digits(_scored("1315"), TIME), 0.0)
    r = check.update(read_digits(_scored("1310", {3: ("8", 0.4)}, conf=0.6), TIME), dt)
    if expected is None:
        assert r.status == "held"
    else:
        assert (r.status, r.text) == ("accepted", expected)


def _sim_totals(sim, names, **disturb):
    totals = {name: np.zeros(3, int) for name in names}
    for s in range(20):
        frames = sim.session(np.random.default_rng([1, s]), 150, 1.0, 0.08, 0.05, **disturb)
        for name in totals:
            totals[name] += sim.score(frames, sim.POLICIES[name], [t for t, _, _ in frames])
    return totals


def test_simulated_persistent_misreads_are_held_and_resets_still_followed():
    sim = bench_module("sequence_sim")
    faint = _sim_totals(sim, ("provisional", "shadow guard"), faint=1.0)
    (right_before, wrong_before, _), (right, wrong, _) = faint["provisional"], faint["shadow guard"]
    assert wrong < 0.5 * wrong_before and right >= right_before
    resets = _sim_totals(sim, ("provisional", "shadow guard", "segment vote", "default"), reset=1.0)
    assert (resets["shadow guard"] == resets["provisional"]).all()
    assert (resets["segment vote"] == resets["provisional"]).all()  # the segment vote never holds a reset
    # Reading a held shadow as the track's time where the vote makes its digit: more right, no more wrong.
    resets.update(_sim_totals(sim, ("vote decode", "first waits"), reset=1.0))
    (right_vote, wrong_vote, _), (right, wrong, _) = resets["segment vote"], resets["vote decode"]
    assert right > right_vote and wrong <= wrong_vote
    # A supported track moves only on readings that keep the clock over seconds: a reset costs held
    # frames, never a wrong reading more.
    (right_first, wrong_first, _), (right, wrong, _) = resets["first waits"], resets["default"]
    assert right < right_first and wrong <= wrong_first


def _dim_session(leading: str, start: int = 95 * 60 + 24, frames: int = 24) -> list[str]:
    """Readings of a clock from `start`, one second a frame, whose first digit reads as
    `leading` cycles (a 9 in dim light: its segments lost at random)."""
    return [leading[k % len(leading)] + TIME.text(start + k)[1:] for k in range(frames)]


def test_a_track_settled_on_a_digit_the_frames_show_more_of_is_held_for_review():
    # A leading 9 read as 3, 4 and 5 in turn: the track settles on the 3s, whose readings fit it.
    texts = _dim_session("3435")
    out = _times(texts, range(len(texts)))
    without = _times(texts, range(len(texts)), steady_frames=None)
    assert sum(r.status == "accepted" for r in without) >= 10  # the sequence alone accepts 35:xx
    # Together the frames light every segment of a 9, and a 3 lacks the upper left one.
    accepted_late = [r for r in out[8:] if r.status == "accepted"]
    assert accepted_late == []
    held = [r for r in out[8:] if r.reason and "unsteady" in r.reason]
    assert held and "make 9, not 3" in held[0].reason and "read 3, 4, 5" in held[0].reason
    # The vote says what the display showed: the reading with its 9 back (95:32 for 35:32).
    assert [r.suggestion for r in held] == ["9" + r.text[1:] for r in held]
    # ... and it goes into the review queue, with the boxes as the pre-label to correct.
    result = FrameResult("8.jpg", 8, 8.0, held[0].status, held[0], "crop", 1.0)
    assert held[0].reason in reasons_for(result, 4, SelectConfig())


def test_a_steady_place_that_loses_segments_keeps_the_whole_digit_accepted():
    # The true 9 read as a 5 now and then (a faded segment): the track's 9 has every segment
    # the frames show, so its readings stand; a place the track changes (the seconds) never votes.
    texts = _dim_session("9959")
    out = _times(texts, range(len(texts)))
    assert all(r.status == "accepted" for r, t in zip(out, texts) if t[0] == "9")
    assert not any(r.reason and "unsteady" in r.reason for r in out)


def test_a_leading_digit_that_loses_segments_now_and_then_reads_as_the_track_where_the_frames_light_it():
    # Heavy compression: the leading 9 of 95:xx reads 4 or 5 in some frames. The shadow guard
    # holds them; the frames read whole light every segment of the 9 there, so the track's time
    # is the reading, flagged, with the boxes as read (the review queue still takes the frame).
    texts = _dim_session("99949995")
    out = _times(texts, range(len(texts)))
    misread = [(r, t) for r, t in zip(out, texts) if t[0] != "9"]
    assert all(r.status == "held" for r, t in misread[:2])  # too few frames read whole yet to vote
    late = misread[2:]
    assert late and all((r.status, r.text, r.flags) == ("accepted", "9" + t[1:], ("vote-decoded",)) for r, t in late)
    assert all("".join(r.digits.digits) == t for r, t in late)
    result = FrameResult("9.jpg", 9, 9.0, late[0][0].status, late[0][0], "crop", 1.0)
    assert f"decoded {late[0][1]} as {late[0][0].text}" in reasons_for(result, 4, SelectConfig())
    # Off, they stay held.
    off = _times(texts, range(len(texts)), vote_decode=False)
    assert all(r.status == "held" for r, t in zip(off, texts) if t[0] != "9")


def test_a_track_the_frames_vote_against_never_reads_its_shadow():
    # The track settled on a misread 3 (the frames light a 9 there): a frame that reads the true
    # 9 is no misread of the track's digit, and stays held as before.
    texts = _dim_session("3435")
    out = _times(texts, range(len(texts)))
    assert not any("vote-decoded" in r.flags for r in out)


def test_a_frame_caught_mid_update_is_no_misread_the_vote_reads_over():
    # 98:59 turning to 00:00 (a 99-minute display): the new 0 shows in the minutes beside the old
    # 8, and the seconds read 58. The vote makes an 8 there, but a 0 is what the place is stepping
    # to, so the frame is not read as 98:58.
    texts, times = _clock("9830", 29)
    out = _times(texts + ["9058"], times + [29.4])
    assert out[-1].status == "held" and "vote-decoded" not in out[-1].flags
    # The same digit where the display is not stepping to it is read over.
    texts, times = _clock("9800", 29)
    out = _times(texts + ["9029"], times + [29.0])
    assert (out[-1].status, out[-1].text) == ("accepted", "9829")


def test_holding_readings_that_run_ahead_accepts_fewer_misreads_in_simulated_sessions():
    totals = _sim_totals(bench_module("sequence_sim"), ("wide", "provisional"))
    (right_wide, wrong_wide, _), (right, wrong, _) = totals["wide"], totals["provisional"]
    assert wrong < 0.85 * wrong_wide and right > right_wide


def _clock(start: str, n: int, t0: float = 0.0) -> tuple[list[str], list[float]]:
    """n readings of a clock from `start`, one a second."""
    v = TIME.value(start)
    return [TIME.text(v + k) for k in range(n)], [t0 + k for k in range(n)]


def test_a_minutes_digit_misread_frame_after_frame_never_re_anchors_an_established_track():
    # 31 clean seconds up to the 99-minute rollover (98:59 -> 00:00), then in dim light the
    # leading 0 shows its unlit middle bar: 00:01 reads 80:01, 80:02, ... in step with the clock.
    texts, times = _clock("9829", 31)
    true, later = _clock("0000", 13, t0=31)
    readings = texts + true[:1] + ["8" + text[1:] for text in true[1:11]] + true[11:]
    out = _times(readings, times + later)
    assert all(r.status == "accepted" for r in out[:32])
    assert [r.status for r in out[32:42]] == ["held"] * 10
    assert out[33].reason.endswith("80:02 does not follow 00:00; it reads like 00:02 with one digit misread")
    assert [(r.status, r.text) for r in out[42:]] == [("accepted", "0011"), ("accepted", "0012")]
    # Without the guard the misread re-anchors the session and is logged as fact.
    unguarded = _times(readings, times + later, shadow_guard=False, scan_span=None)
    assert sum(r.status == "accepted" and r.text.startswith("80") for r in unguarded) == 8


def test_a_reset_re_anchors_an_established_track_once_the_new_time_kept_the_clock_for_seconds():
    texts, times = _clock("1200", 30)
    reset, later = _clock("0000", 12, t0=31)
    out = _times(texts + reset, times + later)
    # 00:00 to 00:08 kept the clock over 8 s: no other quantity of a scanning display does that.
    assert [r.status for r in out[30:]] == ["held"] * 8 + ["accepted"] * 4
    assert "re-anchored" in out[38].flags and out[38].text == "0008"
    # Three agreeing readings moved it before; they move a track that is not yet supported still.
    assert [r.status for r in _times(texts + reset, times + later, scan_span=None)[30:33]] == ["held", "held", "accepted"]
    assert [r.status for r in _times(texts[-3:] + reset, times[-3:] + later)[3:6]] == ["held", "held", "accepted"]


def _scanning(cycles: int, start: str = "1200", total: int = 3120, slot: int = 6) -> tuple[list[str], list[float], list[str]]:
    """A monitor in SCAN mode read once a second: `slot` seconds each of the time, the stroke count
    (blank leading places: fewer digits), the total count (four digits, read as a time) and the
    calories, at 24 strokes a minute; with each frame's quantity."""
    texts, times, shown = [], [], []
    for t in range(cycles * 4 * slot):
        quantity = ("time", "count", "total", "calories")[(t // slot) % 4]
        text = {"time": TIME.text(TIME.value(start) + t), "count": str(t * 24 // 60 % 100 or 1),
                "total": f"{total + t * 24 // 60:04d}", "calories": str(t // 8 % 10 or 1)}[quantity]
        texts.append(text), times.append(float(t)), shown.append(quantity)
    return texts, times, shown


def test_a_scanning_display_keeps_its_time_and_holds_the_other_quantities():
    texts, times, shown = _scanning(5)
    out = _times(texts, times)
    time_frames = [r for r, q in zip(out, shown) if q == "time"]
    others = [r for r, q in zip(out, shown) if q != "time"]
    # The time slots are read whole; the total count (31:21, 31:22, ...) never moves the track.
    assert [r.status for r in time_frames] == ["accepted"] * len(time_frames)
    assert [r.text for r in time_frames] == [t for t, q in zip(texts, shown) if q == "time"]
    assert all(r.status == "held" for r in others)
    # Once the total count has come round again, it is held as another quantity, and so are the
    # frames of blank leading places; neither is a contradiction of the time.
    later = [r for r, q, t in zip(out, shown, times) if q != "time" and t >= 48]
    assert later and all(r.reason.startswith("scan: ") for r in later)
    assert later[6].reason == "scan: 31:44 advances slower than a clock: another quantity the display shows in turn"
    assert later[0].reason == "scan: 2 digits: another quantity the display shows in turn"
    # Without the rule, every total count slot moves the track (logged as times), and the time
    # slot after it is held until three of its frames agree.
    old = _times(texts, times, scan_span=None)
    assert sum(r.status == "accepted" for r, q in zip(old, shown) if q == "total") >= 3 * 5
    assert sum(r.status == "held" for r, q in zip(old, shown) if q == "time") >= 2 * 4


def test_a_scanning_display_read_before_its_time_was_supported_comes_back_to_the_time():
    # Two readings of the time, then the stroke count: the total count takes the session over
    # (no track was worth defending), and the time slots after it take it back, for good.
    texts, times, shown = _scanning(6, start="0958")
    texts, times, shown = texts[4:], times[4:], shown[4:]
    out = _times(texts, times)
    wrong = [t for r, q, t in zip(out, shown, times) if r.status == "accepted" and q != "time"]
    assert wrong and max(wrong) < 24 + 4 * 6
    late = [(r, q) for r, q, t in zip(out, shown, times) if t >= 72]
    assert all(r.status == ("accepted" if q == "time" else "held") for r, q in late)


def test_a_count_with_blank_places_is_no_scan_where_the_display_never_showed_another_quantity():
    out = _times(["1200", "1201", "1202", "02", "1204"], [0, 1, 2, 3, 4])
    assert out[3].status == "held" and out[3].reason == "2 digits, expected 4"


def test_a_wrong_track_gives_way_to_the_truth_read_as_long():
    # The first frames took the leading 9 for a 4; then the display reads right, one digit off
    # the track in every frame. The track was read 8 times: the truth takes over within as many.
    wrong, times = _clock("4520", 8)
    true, later = _clock("9528", 14, t0=8)
    out = _times(wrong + true, times + later)
    first = next(i for i, r in enumerate(out[8:]) if r.status == "accepted")
    assert first <= 8 and "re-anchored" in out[8 + first].flags
    assert all(r.status == "accepted" and r.text.startswith("95") for r in out[8 + first :])


def test_a_track_that_fell_behind_is_no_shadow_of_a_seconds_digit():
    # A track 10 s behind a fast display differs in the tens of seconds only: that is drift, and
    # the display re-anchors as before.
    check = SequenceCheck(TIME, confirm_first=False)
    for text, t in zip(*_clock("1400", 10)):
        check.update(read_digits(digits_at(text), TIME), t)
    assert check.shadowed(TIME.value("8410"), 10.0) == "1410"
    assert check.shadowed(TIME.value("1420"), 10.0) is None
