"""Which open sessions a later writer closes: only those whose writer is known to be gone."""

import json
import os
import subprocess
import sys

from edge.store import close_abandoned, open_db
from edge.writer import started, this_writer
from tests.conftest import segread_cmd


def test_only_sessions_whose_writer_is_known_gone_are_closed(tmp_path):
    db = open_db(tmp_path / "s.db")
    me = json.loads(this_writer("read"))
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                               text=True, check=True).stdout)
    writers = {  # source: (writer, closed)
        "running": (me, False),
        "ended": ({**me, "pid": ended}, True),
        "pid reused": ({**me, "start": "1"}, started(os.getpid()) is not None),  # where start times are known
        "before a reboot": ({**me, "boot": "another boot"}, True),
        # Pids it cannot look up: another machine's, another container's.
        "another host": ({**me, "host": f"{me['host']}-2", "pid": ended}, False),
        "another container": ({**me, "pidns": "pid:[1]", "pid": ended}, False),
        "an older segread": (None, False),
        # A service's: the service closes it at its next start, and exports it.
        "a service killed": ({**me, "pid": ended, "role": "serve"}, False),
    }
    for source, (writer, _) in writers.items():
        db["sessions"].insert({"source": source, "status": "open", "writer": writer and json.dumps(writer)})
    close_abandoned(db)
    rows = {r["source"]: r for r in db.query("SELECT source, status, end_reason FROM sessions")}
    assert {s: rows[s]["status"] == "closed" for s in writers} == {s: closed for s, (_, closed) in writers.items()}
    assert {r["end_reason"] for r in rows.values() if r["status"] == "closed"} == {"interrupted"}
    # The service, the one service on the database, closes its own and what an older segread left open.
    left = [r[0] for r in db.execute("SELECT id FROM sessions WHERE source IN ('an older segread', 'a service killed') ORDER BY id")]
    assert close_abandoned(db, service=True) == left


def test_sessions_close_closes_one_nothing_will_start_again_for_and_refuses_a_running_writer(tmp_path):
    # A killed service taken down for good: no start of `serve` will close its session, so the
    # user does; one a process still writes is refused, and nothing else in the database moves.
    path = tmp_path / "s.db"
    db = open_db(path)
    me = json.loads(this_writer("serve"))
    ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                               text=True, check=True).stdout)
    for source, writer in [("killed service", {**me, "pid": ended}), ("running", me), ("older", None)]:
        db["sessions"].insert({"source": source, "status": "open", "writer": writer and json.dumps(writer)})
    db["readings"].insert({"session_id": 1, "text": "0753", "status": "accepted"})

    def close(*args):
        return subprocess.run(segread_cmd("sessions", "--db", path, "close", *args), capture_output=True, text=True)

    done = close(1)
    assert done.returncode == 0 and "closed session 1 as interrupted" in done.stdout, done.stderr
    assert close(1).stdout.strip() == "session 1 is closed already"
    refused = close(2)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"segread: error: session 2 is still written by segread serve, pid {os.getpid()}:")
    assert len(refused.stderr.splitlines()) == 1
    assert close(3).returncode == 0  # an older segread's: no writer to ask
    assert close(4).stderr.strip() == "segread: error: no session 4"
    assert close(2, "--force").returncode == 0
    rows = {r["source"]: (r["status"], r["end_reason"]) for r in db.query("SELECT * FROM sessions")}
    assert rows == {s: ("closed", "interrupted") for s in ["killed service", "running", "older"]}
    assert db["readings"].count == 1
