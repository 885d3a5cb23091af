"""Fixtures for the review queue: synthetic display frames read through the real Reader with a
scripted fake detector (the inference boundary), into a real SQLite file in tmp_path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.capture import Frame
from edge.pipeline import Reader
from edge.review.queue import ReviewQueue
from edge.review.select import SelectConfig
from edge.run import run
from edge.store import SessionLog, open_db
from tests.conftest import FakeDetector, digits_at

SIZE = (240, 320)  # h, w


def draw(text: str, seed: int = 0) -> np.ndarray:
    """A dark frame with `text` drawn where `digits_at(text)` puts its boxes, plus a little noise."""
    img = np.full((*SIZE, 3), 30, np.uint8)
    cv2.rectangle(img, (80, 80), (280, 180), (60, 70, 60), -1)
    for i, ch in enumerate(text):
        x = 100 + i * 40
        cv2.putText(img, ch, (x + 2, 152), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (230, 230, 230), 4)
    noise = np.random.default_rng(seed).integers(0, 4, img.shape, dtype=np.uint8)
    return cv2.add(img, noise)


def script_frames(script: list[tuple], interval: float = 1.5, blur: float = 0.0):
    """`script`: (shown text, detections) per frame -> Frames (blurred by a Gaussian of `blur` px, as
    a camera out of focus) and the detections in order."""
    def shown(text: str, i: int) -> np.ndarray:
        image = draw(text, i)
        return cv2.GaussianBlur(image, (0, 0), blur) if blur else image

    frames = [Frame(shown(text, i), f"{i}.jpg", i, i * interval) for i, (text, _) in enumerate(script)]
    return frames, [dets for _, dets in script]


class Session:
    """One read of scripted frames into a queue; keeps what a test wants to look at."""

    def __init__(self, tmp_path, script, config=None, db_name="s.db", on_result=None, interval=1.5, blur=0.0):
        frames, dets = script_frames(script, interval, blur)
        self.reader = Reader(FakeDetector(dets), "time", use_crop=False)
        self.db_path = tmp_path / db_name
        self.db = open_db(self.db_path)
        self.log = SessionLog(self.db, "test", "fake", "time")
        self.queue = ReviewQueue.for_reader(self.db, self.reader, self.log, config or SelectConfig(sample_rate=0.0))
        self.results = []

        def hook(frame, result):
            self.queue.consider(frame, result)
            self.results.append(result)
            if on_result:
                on_result(self, frame, result)

        run(frames, self.reader, self.log, on_result=hook)

    def items(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM review_items ORDER BY id"))


@pytest.fixture
def read_session(tmp_path):
    def go(script, config=None, **kw):
        return Session(tmp_path, script, config, **kw)

    return go


@pytest.fixture
def queued_db(tmp_path):
    """A database with three pending items: 07:56 low confidence, a 3-digit frame, 08:01 low confidence."""
    script = [
        ("0755", digits_at("0755")),
        ("0756", digits_at("0756", conf=[0.9, 0.9, 0.9, 0.3])),
        ("0757", digits_at("0757")[np.array([0, 1, 2])]),
        ("0758", digits_at("0758")),
        ("0801", digits_at("0801", conf=[0.9, 0.4, 0.9, 0.9])),
        ("0802", digits_at("0802")),
    ]
    session = Session(tmp_path, script)
    assert len(session.items()) == 3
    return session


__all__ = ["FakeDetector", "digits_at", "draw", "Session"]
