"""Which open sessions a later writer closes: only those whose writer is known to be gone."""

import json
import os
import subprocess
import sys

from edge.store import close_abandoned, open_db
from edge.writer import started, this_writer


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
