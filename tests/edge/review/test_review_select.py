import errno
import json
import logging
import sqlite3

import numpy as np
import pytest

import edge.review.queue as queue_module
from edge.reading import DisplayFormat
from edge.review.queue import image_path
from edge.review.select import SelectConfig, dhash, flipped, hamming
from tests.conftest import digits_at

LOW = [0.9, 0.9, 0.9, 0.3]
TIME = DisplayFormat.parse("time")


def test_unsure_frames_are_queued_with_their_reason_and_confident_ones_are_not(read_session):
    s = read_session([
        ("0755", digits_at("0755")),
        ("0756", digits_at("0756", conf=LOW)),  # a digit the model was unsure of
        ("0757", digits_at("0757")[np.array([0, 1, 2])]),  # a digit missing
        ("0758", digits_at("0758")),
        ("0759", digits_at("0759")),
        ("0123", digits_at("0123")),  # contradicts the session: held by the sequence check
        ("0800", digits_at("0800")),
    ])
    items = s.items()
    assert [i["frame"] for i in items] == ["1.jpg", "2.jpg", "5.jpg"]
    assert items[0]["reasons"].startswith("low-confidence 0.30")
    assert "digit-count 3/4" in items[1]["reasons"]
    assert items[2]["reasons"].startswith("sequence")
    first = items[0]
    assert json.loads(first["prelabels"]) == digits_at("0756", conf=LOW).to_list()
    assert (first["model"], first["status"], first["text"], first["session_id"]) == ("fake", "pending", "0756", 1)
    assert image_path(s.db, first["image"]).is_file()
    assert image_path(s.db, first["image"]).parent.name == "s-frames"
    assert s.reader.stats.read == 7


def test_frames_held_while_the_camera_was_out_of_focus_are_queued_as_blurred(read_session):
    # Confident readings, so no other reason would queue them; blurred as a lens out of focus.
    s = read_session([(f"07{50 + i}", digits_at(f"07{50 + i}")) for i in range(6)], blur=8)
    assert all(r.status == "held" and r.reading.reason.startswith("blurred: ") for r in s.results)
    items = s.items()
    assert len(items) == 6 and all(i["reasons"] == "blurred" for i in items)
    assert json.loads(items[0]["prelabels"]) == digits_at("0750").to_list()
    sharp = read_session([(f"07{50 + i}", digits_at(f"07{50 + i}")) for i in range(6)], db_name="sharp.db")
    assert not sharp.items()


def test_a_frame_the_sequence_read_otherwise_than_its_boxes_is_queued(read_session):
    s = read_session([
        ("0738", digits_at("0738")),
        ("0739", digits_at("0739")),
        ("0740", digits_at("0790")),  # caught mid-update: the old 3 still shows over the new 4
        ("0741", digits_at("0741")),
    ])
    items = s.items()
    assert [i["frame"] for i in items] == ["2.jpg"]
    assert items[0]["reasons"] == "decoded 0790 as 0740" and items[0]["text"] == "0740"


def test_a_held_frame_gets_the_values_between_its_accepted_neighbours(read_session):
    s = read_session([
        ("0756", digits_at("0756")),
        ("0757", digits_at("0757")[np.array([0, 1, 2])]),
        ("0759", digits_at("0759")),
    ])
    (item,) = s.items()
    assert item["suggestion"] == "0757|0758"


def test_a_frame_the_steady_digits_doubt_is_suggested_what_they_show(read_session):
    # A leading 9 read as 3, 4 and 5 in turn (dim light), 3 in the first two frames: the session
    # starts on the 3s, and the steady places' vote holds them. Their neighbours are on that track,
    # so the suggestion is the vote's.
    texts = ["3345"[k % 4] + TIME.text(95 * 60 + 24 + k)[1:] for k in range(24)]
    s = read_session([(text, digits_at(text)) for text in texts], interval=1.0)
    doubted = [i for i in s.items() if "unsteady" in i["reasons"]]
    assert doubted and all(i["suggestion"] == "9" + i["text"][1:] for i in doubted)
    assert all(i["text"][0] == "3" for i in doubted)  # 35:xx (from 95:xx) read as it was


def test_a_frame_that_reads_like_the_track_with_one_digit_misread_is_suggested_that_time(read_session):
    # Heavy compression: a leading 9 loses its upper right segment and reads 5, frame after frame.
    # The sequence holds 58:22 as "reads like 98:22"; its neighbours allow 98:22 or 98:23, and the
    # frame's own seconds say which.
    truth = [TIME.text(98 * 60 + 10 + k) for k in range(16)]
    texts = [("5" + t[1:]) if 10 <= k < 14 else t for k, t in enumerate(truth)]
    seen = {}

    def snapshot(session, frame, result):  # each item's suggestion as its own frame is read
        seen.update({i["frame"]: i["suggestion"] for i in session.items() if i["frame"] == frame.name})

    s = read_session([(text, digits_at(text)) for text in texts], interval=1.0, on_result=snapshot)
    shadows = [i for i in s.items() if "reads like" in i["reasons"]]
    assert shadows and all(i["suggestion"] == "9" + i["text"][1:] for i in shadows)
    assert all(i["suggestion"] in truth for i in shadows)
    assert all(seen[i["frame"]] == i["suggestion"] for i in shadows)  # said at once, before the next reading


def test_a_frame_whose_other_digits_are_misread_too_is_suggested_what_its_neighbours_allow(read_session):
    # 58:22 where the display showed 98:20 (too unsure to be read as the track's time): it reads
    # like 98:22, but its neighbours, 98:19 and 98:21, allow only 98:20, and that is the suggestion.
    truth = [TIME.text(98 * 60 + 10 + k) for k in range(16)]
    texts = truth[:10] + ["5822"] + truth[11:]
    s = read_session([(text, digits_at(text, conf=[0.9, 0.6, 0.9, 0.9] if k == 10 else 0.9))
                      for k, text in enumerate(texts)], interval=1.0)
    (item,) = [i for i in s.items() if "reads like" in i["reasons"]]
    assert "reads like 98:22" in item["reasons"] and item["suggestion"] == "9820"


def test_suggestion_waits_for_the_next_accepted_reading(read_session):
    seen = []

    def snapshot(session, frame, result):
        seen.append([i["suggestion"] for i in session.items()])

    read_session([
        ("0756", digits_at("0756")),
        ("0757", digits_at("0757", conf=LOW)),
        ("0758", digits_at("0758")[np.array([0, 1])]),
        ("0759", digits_at("0759")),
    ], on_result=snapshot)
    assert seen[1] == [None]
    assert seen[-1] == ["0757|0758", "0757|0758"]


def test_every_item_is_committed_with_its_image_before_the_next_frame(read_session):
    checks = []

    def look_from_another_connection(session, frame, result):
        conn = sqlite3.connect(session.db_path)
        rows = conn.execute("SELECT frame, image FROM review_items").fetchall()
        conn.close()
        checks.append((frame.name, rows, [image_path(session.db, r[1]).is_file() for r in rows]))

    # 07:57 follows the session's first reading, 07:55, so only the unsure 07:56 is queued.
    read_session([("0755", digits_at("0755")), ("0756", digits_at("0756", conf=LOW)), ("0757", digits_at("0757"))],
                 on_result=look_from_another_connection)
    assert checks[1][0] == "1.jpg" and [r[0] for r in checks[1][1]] == ["1.jpg"] and checks[1][2] == [True]


def test_near_duplicates_are_queued_once_but_other_digits_are_not_duplicates(read_session):
    s = read_session([
        ("0756", digits_at("0756", conf=LOW)),
        ("0756", digits_at("0756", conf=LOW)),  # the same display again (frozen): a near-duplicate
        ("0757", digits_at("0757", conf=LOW)),  # one second on: a different label, queued
    ])
    assert [i["frame"] for i in s.items()] == ["0.jpg", "2.jpg"]
    assert s.queue.selector.duplicates == 1


def test_a_restarted_reader_does_not_queue_what_is_already_queued(tmp_path, read_session):
    read_session([("0756", digits_at("0756", conf=LOW))])
    again = read_session([("0756", digits_at("0756", conf=LOW))])
    assert len(again.items()) == 1 and again.queue.selector.duplicates == 1


def _unsure_clock(n: int, start: int = 470) -> list:
    """n frames of a clock from 07:50, one digit unsure in each: every frame is a candidate."""
    return [(TIME.text(start + k), digits_at(TIME.text(start + k), conf=LOW)) for k in range(n)]


def test_a_full_hour_is_thinned_so_its_items_cover_the_whole_stretch(read_session, caplog):
    # A bad stretch of 60 frames (90 s) against a limit of 8: the first 8 alone would cover 12 s.
    with caplog.at_level(logging.WARNING, logger="edge.review.select"):
        s = read_session(_unsure_clock(60), SelectConfig(max_per_hour=8, sample_rate=0.0))
    assert s.reader.stats.read == 60
    pending = [i for i in s.items() if i["status"] == "pending"]
    thinned = [i for i in s.items() if i["status"] == "thinned"]
    assert len(pending) == 8 and thinned and s.queue.thinned == len(thinned)
    times = sorted(i["t"] for i in pending)
    assert times[0] == 0.0 and times[-1] >= 75.0  # from the first frame to the last seconds
    assert max(b - a for a, b in zip(times, times[1:])) <= 3 * (88.5 / 7)  # no gap three times an even one
    # A thinned item's frame is deleted and its row kept; it is never exported or answered.
    assert not any(image_path(s.db, i["image"]).exists() for i in thinned)
    assert all(image_path(s.db, i["image"]).is_file() for i in pending)
    assert "thinned, " in s.queue.live_text() and "left out to keep the hour spread" in s.queue.live_text()
    assert f"{len(thinned)} of them thinned and " in s.queue.summary()
    assert len([r for r in caplog.records if "thinning" in r.message]) == 1
    from edge.errors import ReviewError
    from edge.review.items import fix
    with pytest.raises(ReviewError, match="was thinned from the queue"):
        fix(s.db, thinned[0]["id"], "0751", "tester")


def test_a_restart_within_the_hour_counts_what_the_hour_queued_before(read_session):
    config = SelectConfig(max_per_hour=8, sample_rate=0.0)
    first = read_session(_unsure_clock(30), config)
    before = max(i["id"] for i in first.items())
    again = read_session(_unsure_clock(30, start=600), config)  # the same database, moments later
    pending = [i for i in again.items() if i["status"] == "pending"]
    assert len(pending) == 8  # the hour's limit over both runs, not 8 more
    assert any(i["id"] > before for i in pending)  # the new run's frames still find room
    # An hour later the earlier items no longer count.
    import time

    from edge.review.queue import earlier_hour
    assert len(earlier_hour(again.db)) == sum(i["status"] != "thinned" for i in again.items())
    assert earlier_hour(again.db, now=time.time() + 3601) == []


def test_an_hour_with_nothing_left_to_thin_stops_queueing_says_so_once_and_reading_goes_on(read_session, caplog):
    from edge.review.export import mark_exported

    def export_as_queued(session, frame, result):
        mark_exported(session.db, [i["id"] for i in session.items()])  # a person took each to a labeling tool

    with caplog.at_level(logging.WARNING, logger="edge.review.select"):
        s = read_session(_unsure_clock(6), SelectConfig(max_per_hour=2, sample_rate=0.0), on_result=export_as_queued)
    assert [i["status"] for i in s.items()] == ["pending", "pending"]
    assert s.reader.stats.read == 6
    sel = s.queue.selector
    assert sel.limited >= 1 and sel.limited + sel.crowded == 4 and s.queue.thinned == 0  # 4 frames left out, none thinned
    assert "queue limit per-hour" in s.queue.live_text()
    assert len([r for r in caplog.records if "not queueing more" in r.message]) == 1


def test_the_session_limit(read_session):
    script = [(f"07{50 + i}", digits_at(f"07{50 + i}", conf=LOW)) for i in range(5)]
    s = read_session(script, SelectConfig(max_per_session=3, sample_rate=0.0))
    assert len(s.items()) == 3 and s.queue.selector.limit_hit == "per-session"


def test_a_full_disk_stops_queueing_and_reading_goes_on(read_session, monkeypatch, caplog):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(queue_module, "write_bytes", full)
    script = [(f"07{50 + i}", digits_at(f"07{50 + i}", conf=LOW)) for i in range(4)]
    with caplog.at_level(logging.ERROR, logger="edge.review.queue"):
        s = read_session(script)
    assert s.items() == []
    assert s.reader.stats.read == 4
    assert s.queue.stopped == "disk full" and "queue stopped: disk full" in s.queue.live_text()
    assert len([r for r in caplog.records if "disk full" in r.message]) == 1
    assert [e["kind"] for e in s.db.query("SELECT kind FROM events")] == ["review-queue-stopped"]


def test_a_full_disk_while_thinning_keeps_the_item_it_would_have_replaced(read_session, monkeypatch):
    written = []
    real = queue_module.write_bytes

    def fills_up(path, data):
        if len(written) == 6:  # the queue is full (4) and has thinned once; the next frame finds no space
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(path)
        real(path, data)

    monkeypatch.setattr(queue_module, "write_bytes", fills_up)
    s = read_session(_unsure_clock(20), SelectConfig(max_per_hour=4, sample_rate=0.0))
    assert s.queue.stopped == "disk full"
    items = s.items()
    assert len(items) == 6 and sum(i["status"] == "pending" for i in items) == 4  # nothing lost to the failed write
    assert all(image_path(s.db, i["image"]).is_file() == (i["status"] == "pending") for i in items)


def test_a_digit_that_flips_between_neighbours_queues_the_odd_frame(read_session):
    s = read_session([
        ("9533", digits_at("9533")),
        ("9534", digits_at("4534")),  # the leading 9 read as 4, confidently
        ("9535", digits_at("9535")),
    ], SelectConfig(strategies=("flip",)))
    (item,) = s.items()
    assert item["frame"] == "1.jpg" and item["reasons"] == "flip 9533 4534 9535"
    assert flipped("9533", "4534", "9535") == [0] and flipped("0756", "0757", "0758") == []


def test_a_seeded_sample_of_confident_frames_is_the_same_on_a_replay(tmp_path, read_session):
    script = [(f"{10 + i // 60:02d}{i % 60:02d}", digits_at(f"{10 + i // 60:02d}{i % 60:02d}")) for i in range(40)]
    cfg = SelectConfig(sample_rate=0.2, seed=3, hash_distance=0)
    a = read_session(script, cfg, db_name="a.db")
    b = read_session(script, cfg, db_name="b.db")
    frames = [i["frame"] for i in a.items()]
    assert 0 < len(frames) < 20 and frames == [i["frame"] for i in b.items()]
    assert {i["reasons"] for i in a.items()} == {"sample"}


def test_settings_are_checked_and_name_the_key():
    with pytest.raises(ValueError, match="min_conf"):
        SelectConfig(min_conf=1.5)
    with pytest.raises(ValueError, match="strategies"):
        SelectConfig(strategies=("nonsense",))


def test_dhash_is_stable_under_noise_and_sees_a_different_picture():
    from tests.edge.review.conftest import draw

    def crop(text, seed):
        return draw(text, seed)[90:170, 90:270]

    a, b, c = dhash(crop("0756", 1)), dhash(crop("0756", 2)), dhash(crop("", 1))
    assert hamming(a, b) <= 2 and hamming(a, c) >= 8


def test_a_scanning_display_queues_its_unsure_time_and_not_its_stroke_counts(read_session):
    # A monitor in SCAN mode, read once a second: 6 s each of the time, the stroke count (blank
    # leading places), the total count (31:24 read as a time) and the calories, four times round.
    script = []
    for t in range(96):
        quantity = (t // 6) % 4
        text = [TIME.text(720 + t), f"{t * 24 // 60:d}", f"{3120 + t * 24 // 60:04d}", f"{max(t // 8, 1)}"][quantity]
        conf = 0.3 if (quantity, t % 6) in {(0, 3), (2, 4)} and t >= 48 else 0.9  # one unsure digit each
        script.append((text, digits_at(text, conf=[0.9] * (len(text) - 1) + [conf])))
    s = read_session(script, interval=1.0)
    items = {int(i["frame"].split(".")[0]): i for i in s.items()}
    later = {t: i for t, i in items.items() if t >= 48}
    # From the second round on, the other quantities are known for what they are: of them, only
    # the total count's unsure digit is queued (the detector learns from it), with no time
    # suggested for it; the time's unsure digit is suggested what its neighbours allow.
    assert sorted(later) == [51, 64, 75, 88]
    assert all(item["reasons"] == "low-confidence 0.30" for item in later.values())
    assert (later[51]["suggestion"], later[75]["suggestion"]) == ("1251", "1315")
    assert later[64]["suggestion"] is None and later[88]["suggestion"] is None
    assert all(r.reading.other_quantity for r in s.results[54:72] + s.results[78:96])
    # The time was read through every slot.
    assert all(r.status == "accepted" for r in s.results[48:54] + s.results[72:78] if r.frame not in ("51.jpg", "75.jpg"))
