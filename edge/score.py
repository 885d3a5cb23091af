"""Score readings against a session's truth CSV (`frame,reading,alt,mode,note`).

A frame is right when the accepted reading equals `reading` or `alt`; `*` in either field means
the frame is too poor to hold a reader to, and any outcome counts as right there.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Score:
    total: int = 0
    right: int = 0
    wrong_accepted: int = 0
    held: int = 0
    skipped: int = 0
    wrong_frames: list = field(default_factory=list)  # frames not right: accepted wrong or held

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "right": self.right,
            "accuracy": round(self.accuracy, 4),
            "wrong_accepted": self.wrong_accepted,
            "held": self.held,
            "skipped": self.skipped,
            "not_right_frames": self.wrong_frames,
        }


def load_truth(csv_path: Path) -> dict[str, set[str]]:
    """frame stem -> the set of readings that count as right ({"*"} for any)."""
    truth = {}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            options = {row["reading"].strip()}
            if row.get("alt", "").strip():
                options.add(row["alt"].strip())
            truth[str(row["frame"]).strip()] = options
    return truth


def score_results(results: list[dict], truth: dict[str, set[str]]) -> Score:
    """Score JSONL-style records ({"frame", "status", "reading"}) against the truth."""
    score = Score()
    for rec in results:
        key = Path(str(rec["frame"])).stem
        if key not in truth:
            continue
        options = truth[key]
        score.total += 1
        status = rec["status"]
        if status == "skipped":
            score.skipped += 1
        if "*" in options or (status == "accepted" and rec["reading"] in options):
            score.right += 1
            continue
        score.wrong_frames.append(key)
        if status == "accepted":
            score.wrong_accepted += 1
        elif status == "held":
            score.held += 1
    return score


def score_session(model_path, frames_dir, truth_csv, fmt: str = "time", device: str = "cpu") -> dict:
    """Read a folder of frames with the reader (every frame, no dedup) and score it."""
    from edge.capture import FolderSource
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader

    reader = Reader(OnnxDetector(model_path, device=device), fmt)
    results = [reader.process(frame).to_json() for frame in FolderSource(frames_dir)]
    return score_results(results, load_truth(Path(truth_csv))).as_dict()
