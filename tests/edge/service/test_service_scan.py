"""A monitor in SCAN mode read by the service: the `[reader] scan` switch, end to end on a real
database and a real ONNX Runtime session (the strip model)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import pytest

from edge.service.config import load_config
from edge.service.service import Service
from edge.store import list_sessions, open_db
from tests.edge.service.conftest import strip_image, write_config


def write_scanning_workout(folder: Path, frames: int = 48, slot: int = 6) -> list[str]:
    """A frame a second of a display that starts in SCAN mode on the total count (3120 at 24
    strokes a minute), then shows the time (from 10:00) and the count in turn, `slot` s each."""
    folder.mkdir(parents=True)
    texts = []
    for i in range(frames):
        if (i // slot) % 2:
            text = f"{(600 + i) // 60:02d}{(600 + i) % 60:02d}"
        else:
            text = f"{3120 + i * 24 // 60:04d}"
        cv2.imwrite(str(folder / f"{i}.png"), strip_image(text))
        texts.append(text)
    return texts


@pytest.mark.parametrize("scan", [True, False])
def test_the_scan_switch_keeps_one_session_of_the_time(tmp_path, models_dir, scan):
    folder = tmp_path / "in"
    texts = write_scanning_workout(folder)
    cfg = load_config(write_config(tmp_path / "c.json", models_dir, folder, source={"interval": 1.0}, reader={"scan": scan}))
    Service(cfg).run(threading.Event())
    db = open_db(cfg.database)
    sessions = list_sessions(db)
    logged = [r["text"] for r in db.query("SELECT text FROM readings WHERE status = 'accepted' ORDER BY id")]
    counts = [t for t in logged if t.startswith("31")]
    if scan:
        # One workout, one session; every reading logged is the time, as the display showed it.
        assert len(sessions) == 1 and not counts
        assert set(logged) <= set(texts) and len(logged) >= 15
        withdrawn = list(db.query("SELECT text FROM readings WHERE reason LIKE '%withdrawn%'"))
        assert withdrawn and all(r["text"].startswith("31") for r in withdrawn)
    else:
        # The rules off: the total count re-anchors like a reset, and is logged as a time.
        assert len(sessions) > 1 and counts
