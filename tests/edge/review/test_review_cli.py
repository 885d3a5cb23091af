import json

import pytest

from edge.cli import main
from tests.conftest import read_only


def cli(db, *args, who="tester"):
    return main(["review", "--db", str(db), "--who", who, *args])


def test_list_show_accept_fix_skip_from_the_terminal(queued_db, capsys):
    db = queued_db.db_path
    assert cli(db, "list", "--order", "queued") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "pending" in out[0] and "07:56 or 07:57" in out[0]
    assert "read 07:56" in out[0]  # the reading as the display shows it, like the suggestion
    assert cli(db, "show", "1") == 0
    shown = capsys.readouterr().out
    assert "read  07:56 (held)" in shown and "low-confidence" in shown and "0  conf 0.90" in shown and "segread review accept 1" in shown

    assert cli(db, "accept", "1") == 0
    assert cli(db, "fix", "3", "08:01") == 0  # what the model read, typed with a colon
    assert cli(db, "skip", "2") == 0
    capsys.readouterr()
    assert cli(db, "list", "--status", "all") == 0
    statuses = [line.split()[1] for line in capsys.readouterr().out.splitlines()]
    assert statuses == ["accepted", "skipped", "accepted"]


def test_the_queue_is_listed_and_shown_from_a_database_it_may_only_read(queued_db, capsys):
    # The service's database is its own user's; a person in its group looks at the queue.
    queued_db.db.conn.close()
    with read_only(queued_db.db_path.parent):
        assert cli(queued_db.db_path, "list") == 0
        assert len(capsys.readouterr().out.splitlines()) == 3
        assert cli(queued_db.db_path, "show", "1") == 0
        assert "read  07:56 (held)" in capsys.readouterr().out
        assert cli(queued_db.db_path, "accept", "1") == 2  # answering needs write access: one line
        assert capsys.readouterr().err.count("\n") == 1


def test_fix_with_the_wrong_count_is_refused_with_a_clear_message(queued_db, capsys):
    assert cli(queued_db.db_path, "fix", "1", "757") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "3 digits typed (757) but the pre-labels have 4 boxes" in err
    assert queued_db.db["review_items"].get(1)["status"] == "pending"


def test_decisions_are_kept_and_never_touch_the_pre_labels(queued_db, capsys):
    db = queued_db.db
    before = db["review_items"].get(1)["prelabels"]
    assert cli(queued_db.db_path, "fix", "1", "0757", who="ann") == 0
    assert cli(queued_db.db_path, "fix", "1", "0756", who="bob") == 0
    rows = list(db.query("SELECT action, digits, who, labels FROM review_decisions WHERE item_id = 1 ORDER BY id"))
    assert [(r["action"], r["digits"], r["who"]) for r in rows] == [("fix", "0757", "ann"), ("fix", "0756", "bob")]
    assert [b["digit"] for b in json.loads(rows[0]["labels"])] == list("0757")
    assert db["review_items"].get(1)["prelabels"] == before
    assert db["review_items"].get(1)["status"] == "accepted"  # the second answer agrees with the model
    capsys.readouterr()
    cli(queued_db.db_path, "show", "1")
    assert "bob  fix  0756" in capsys.readouterr().out


def test_fix_without_digits_takes_a_single_suggestion_or_asks(queued_db, capsys):
    db = queued_db.db
    db.execute("UPDATE review_items SET suggestion = '0756' WHERE id = 1")
    db.conn.commit()
    assert cli(queued_db.db_path, "fix", "1") == 0
    assert cli(queued_db.db_path, "fix", "3") == 2
    assert "0759 or 0800 or 0801" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["show", "99"], "no review item 99"),
    (["fix", "1", "07a7"], "is not digits"),
    (["accept", "2"], "item 2 has 3 boxes but the display shows 4 digits"),
])
def test_user_mistakes_are_one_line_and_exit_2(queued_db, capsys, args, message):
    code = cli(queued_db.db_path, *args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_spread_order_puts_items_from_across_the_queue_first():
    from edge.review.items import spread

    order = spread(list(range(100)))
    assert sorted(order) == list(range(100))  # every item, once
    for k in (4, 10, 40):  # whatever number a person answers, those lie across the whole queue
        head = sorted(order[:k])
        assert max(b - a for a, b in zip([-1, *head], [*head, 100])) <= 2 * 100 // k
    assert spread([]) == [] and spread(["only"]) == ["only"]


def test_pending_items_are_listed_and_exported_spread_across_the_queue(read_session, capsys, tmp_path):
    from tests.conftest import digits_at

    low = [0.9, 0.9, 0.9, 0.3]
    texts = [f"07{s}" for s in range(20, 40)]  # every frame unsure: twenty queued, in time order
    s = read_session([(t, digits_at(t, conf=low)) for t in texts])
    assert cli(s.db_path, "list", "--order", "queued") == 0
    queued = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert cli(s.db_path, "list") == 0  # what a person answers from the top
    spread_ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert sorted(spread_ids, key=int) == queued and spread_ids[0] == queued[len(queued) // 2]
    assert {queued.index(i) < len(queued) // 2 for i in spread_ids[:3]} == {True, False}  # both halves early
    # The whole history reads in queue order.
    assert cli(s.db_path, "list", "--status", "all") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == queued
    # Label Studio shows its tasks in the order of tasks.json: the pending ones spread as well.
    assert cli(s.db_path, "export", str(tmp_path / "ls"), "--format", "label-studio", "--status", "pending") == 0
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert [str(t["data"]["item_id"]) for t in tasks] == spread_ids


def test_a_missing_database_is_reported_not_created(tmp_path, capsys):
    assert cli(tmp_path / "nope.db", "list") == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


def test_every_review_command_has_help_with_an_example(capsys):
    for command in ["list", "show", "accept", "fix", "skip", "export", "import"]:
        assert main(["review", command, "--help"]) == 0
        assert "Example:" in capsys.readouterr().out


def test_segread_read_queues_by_default_and_not_with_no_queue(tmp_path, tiny_onnx, capsys):
    import cv2
    import numpy as np

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.jpg"), np.full((120, 320, 3), 90 + i * 20, np.uint8))
    args = ["read", str(frames), "--model", str(tiny_onnx), "--device", "cpu", "--no-dedup"]
    assert main(args + ["--db", str(tmp_path / "a.db")]) == 0
    err = capsys.readouterr().err
    assert "frame(s) for review" in err and "near-duplicates" in err
    assert main(args + ["--db", str(tmp_path / "b.db"), "--no-queue"]) == 0
    assert "for review" not in capsys.readouterr().err


def test_answers_in_the_queue_make_the_nightly_retrain_ready_once(queued_db, tmp_path, capsys):
    """What segread-retrain.service asks each night: answered items since the last retrain."""
    db, models = queued_db.db_path, tmp_path / "models"
    (models / "candidates").mkdir(parents=True)
    (models / "current").write_text("m\n")
    ready = ["retrain-ready", "--db", str(db), "--models", str(models), "--min-new", "2"]
    assert cli(db, "accept", "1") == 0
    assert cli(db, "skip", "2") == 0  # skipped items never train
    assert main(ready) == 1
    assert "1 new label(s) since the last retrain, 2 needed: not yet" in capsys.readouterr().err
    assert cli(db, "fix", "3", "0802") == 0
    assert main(ready) == 0

    # A retrain ran on them and its candidate was kept aside: the same answers do not count again.
    (models / "candidates" / "m2.json").write_text("{}")
    assert main(ready) == 1
    assert "0 new label(s)" in capsys.readouterr().err.splitlines()[-1]


def test_retrain_ready_needs_the_queue_or_a_labels_folder(tmp_path, capsys):
    assert main(["retrain-ready", "--models", str(tmp_path)]) == 2
    assert "give --db (the review queue), --data (a labels folder), or both" in capsys.readouterr().err
    # Before the service has written its database nothing is ready, and nothing is created.
    assert main(["retrain-ready", "--db", str(tmp_path / "none.db"), "--models", str(tmp_path)]) == 1
    assert not (tmp_path / "none.db").exists()


def test_an_id_too_large_for_sqlite_is_no_such_item(queued_db, capsys):
    for command in ("show", "accept", "skip"):
        assert cli(queued_db.db_path, command, "99999999999999999999") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no review item 99999999999999999999" in err


@pytest.mark.parametrize("typed", ["０７５７", "0²57", "٠٧٥٧", "07:5७"])
def test_fix_takes_only_ascii_digits(queued_db, tmp_path, capsys, typed):
    assert cli(queued_db.db_path, "fix", "1", typed) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not digits 0-9" in err
    assert queued_db.db["review_items"].get(1)["status"] == "pending"
    assert cli(queued_db.db_path, "export", str(tmp_path / "out")) == 0


def test_an_answer_that_cannot_be_stored_whole_leaves_no_half_of_it(queued_db, capsys):
    # The decision row and the item's new status are one write: should the second fail (a full
    # disk, say), the item is pending with no decision, never "answered" in its history only.
    import sqlite3

    conn = sqlite3.connect(queued_db.db_path)
    conn.execute("CREATE TRIGGER fail BEFORE UPDATE OF status ON review_items "
                 "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    conn.commit()
    assert cli(queued_db.db_path, "accept", "1") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("database or disk is full")
    assert conn.execute("SELECT count(*) FROM review_decisions").fetchone()[0] == 0
    assert conn.execute("SELECT status FROM review_items WHERE id = 1").fetchone()[0] == "pending"


def test_show_image_writes_the_display_enlarged_with_its_labels_boxed(queued_db, tmp_path, capsys):
    # The frame is stored whole; a person checking 4 pre-labels wants the display large, not 320x240.
    import cv2
    import numpy as np

    out = tmp_path / "item.png"
    assert cli(queued_db.db_path, "show", "1", "--image", out) == 0
    assert f"wrote {out}: the display at x" in capsys.readouterr().out
    zoomed = cv2.imread(str(out))
    assert zoomed.shape[0] > 240  # taller than the whole stored frame: the display, scaled up
    assert np.all(zoomed == (0, 165, 255), axis=2).sum() > 200  # the boxes, drawn

    assert cli(queued_db.db_path, "fix", "1", "0757") == 0
    assert cli(queued_db.db_path, "show", "1", "--image", out) == 0
    assert "labels now" in capsys.readouterr().out  # what will be exported, drawn from now on
    for bad, said in ((tmp_path / "item.gif", "a .png or .jpg"), (tmp_path / "no" / "item.png", "cannot write")):
        assert cli(queued_db.db_path, "show", "1", "--image", bad) == 2
        assert said in capsys.readouterr().err
