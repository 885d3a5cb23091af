"""Score readings against a session's truth CSV (`frame,reading,alt,mode,note`).

A frame is right when the accepted reading equals `reading` or `alt`; `*` in either field means
the frame is too poor to hold a reader to, and any outcome counts as right there.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import LabelError
from edge.focus import BLURRED
from edge.labels import IMAGE_SUFFIXES


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


def truth_options(row: dict) -> set[str]:
    """The readings that count as right for one truth row (`reading`, and `alt` when given)."""
    options = {str(row["reading"]).strip()}
    if str(row.get("alt") or "").strip():
        options.add(str(row["alt"]).strip())
    return options


def load_truth(csv_path: Path) -> dict[str, set[str]]:
    """frame stem -> the set of readings that count as right ({"*"} for any). A file that is no
    such table (no `frame` or `reading` column, a row without either, not UTF-8, no row) is a
    LabelError naming the file and line: a gate scored against it would count nothing."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("frame", "reading") if c not in (reader.fieldnames or [])]
            if missing:
                raise LabelError(f"{csv_path}: no {' or '.join(missing)} column (expected the header "
                                 f"frame,reading,alt,mode,note; found {','.join(reader.fieldnames or []) or 'none'})")
            truth = {}
            for row in reader:
                frame, reading = (str(row.get(c) or "").strip() for c in ("frame", "reading"))
                if not frame or not reading:
                    raise LabelError(f"{csv_path}:{reader.line_num}: a row needs a frame and its reading (* for any)")
                truth[Path(frame).stem if Path(frame).suffix.lower() in IMAGE_SUFFIXES else frame] = truth_options(row)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LabelError(f"{csv_path}: unreadable truth table ({exc})") from None
    if not truth:
        raise LabelError(f"{csv_path}: no rows")
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


def read_frames(reader, frames, session_log=None, on_result=None) -> list[dict]:
    """Read frames (any iterable of `Frame`, or a source) through the read loop; their JSONL
    records, in frame order, each with its final verdict (a first reading's waits on the frames
    after it). `session_log` and `on_result` (e.g. a review queue's `consider`) are passed to the
    loop."""
    from edge.run import run

    records = []

    def collect(frame, result) -> None:
        records.append(result.to_json())
        if on_result is not None:
            on_result(frame, result)

    run(frames, reader, session_log, on_result=collect)
    return records


def read_folder(reader, frames_dir, interval: float = 1.0, session_log=None, on_result=None) -> list[dict]:
    """Read every frame of a folder through the read loop (`read_frames`); `interval` is the
    seconds between the folder's frames (the sequence check uses it)."""
    from edge.capture import FolderSource

    return read_frames(reader, FolderSource(frames_dir, interval=interval), session_log, on_result)


def score_session(model_path, source, truth_csv, fmt: str = "time", device: str = "cpu",
                  crop_size: int | None = None, deskew: bool = True, denoise: bool = True,
                  vote_decode: bool = True, confirm_first: bool = True, stretch: bool = True, scan: bool = True,
                  interval: float = 1.0, blur_hold: float | None = BLURRED) -> dict:
    """Read a session's frames (a folder, or a video file whose frames are named by their index)
    with the reader (every frame, no dedup) and score it; `crop_size`
    overrides the size the model's metadata says display crops are read at; `deskew=False` never
    turns a tilted display's crop, `denoise=False` never smooths a noisy one, `stretch=False` never
    stretches a frame of narrow grey levels, `vote_decode=False`
    never reads a faded minutes digit as the session's (`SequenceCheck.vote_decoded`),
    `confirm_first=False` takes a reading the session cannot check at once, `scan=False` re-anchors
    a supported track on three agreeing readings (`SequenceCheck.scan_span`); `interval` is the
    seconds the folder's frames are stamped apart, as `segread read --interval`; `blur_hold=None`
    never holds a reading for a camera out of focus (`edge.focus`)."""
    from edge.capture import open_source
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader

    truth = load_truth(Path(truth_csv))  # a bad table is told before the frames are read
    reader = Reader(OnnxDetector(model_path, device=device), fmt, crop_size=crop_size, deskew=deskew,
                    denoise=denoise, stretch=stretch, vote_decode=vote_decode, confirm_first=confirm_first, scan=scan, blur_hold=blur_hold)
    score = score_results(read_frames(reader, open_source(str(source), interval=interval)), truth)
    if not score.total:
        raise LabelError(f"{truth_csv}: none of its frames is one of {source}'s (frame names, without the suffix)")
    return score.as_dict()


def read_alone(detector, image, n_digits: int, crop_size: int | None = None, find_ladder: bool = True):
    """One photo's reading as a fresh reader reads a first frame, as a `digits:N` display: the find
    pass, the display crop and the reading rules count; the sequence check (which needs a session)
    does not."""
    from edge.pipeline import Reader

    return Reader(detector, f"digits:{n_digits}", crop_size=crop_size, find_ladder=find_ladder).read_image(image)[0]


def score_photos(model_path, photos: list[tuple[Path, str]], device: str = "cpu", crop_size: int | None = None,
                 find_ladder: bool = True) -> dict:
    """Read each photo alone, as a fresh reader would read a first frame, and score it.

    `photos` are (image, truth) pairs, the truth being the display's digits left to right; each is
    read as a `digits:N` display of its truth's length, so the find pass, the display crop and the
    reading rules all count, and only the sequence check (which needs a session) does not.
    """
    import cv2

    from edge.detect import OnnxDetector

    detector = OnnxDetector(model_path, device=device)
    score = Score()
    for image_path, truth in photos:
        image = cv2.imread(str(image_path))
        if image is None or not 1 <= len(truth) <= 12:
            continue
        reading = read_alone(detector, image, len(truth), crop_size, find_ladder)
        score.total += 1
        if reading.status == "accepted" and reading.text == truth:
            score.right += 1
            continue
        score.wrong_frames.append(Path(image_path).name)
        if reading.status == "accepted":
            score.wrong_accepted += 1
        else:
            score.held += 1
    return score.as_dict()


# A detection metric ranks boxes down to this confidence, every class above it a box of its own,
# each class's own after NMS at this IoU, at most this many a pass (what Ultralytics' val keeps);
# the reader itself keeps one box per place (OnnxDetector.agnostic).
PROBE_CONF, PROBE_IOU, PROBE_MAX_DET = 0.001, 0.7, 300


def metric_detector(detector, conf: float = PROBE_CONF):
    """The same model session keeping boxes as a detection metric ranks them: down to `conf`,
    every class above it, each class's own after NMS at PROBE_IOU, at most PROBE_MAX_DET."""
    import copy

    probe = copy.copy(detector)
    probe.conf_threshold, probe.iou_threshold, probe.agnostic = conf, PROBE_IOU, False
    probe.multi_label, probe.max_det = True, PROBE_MAX_DET
    return probe


def read_boxes(detector, image, n_digits: int, crop_size: int | None = None, conf: float = PROBE_CONF):
    """Every digit box the reader's two passes give one photo, with a low confidence floor, for a
    detection metric of the reader rather than of one pass: the photo is read alone as a
    `digits:N` display (`read_alone`), then the display crop it tracks is read once more as the
    reading read it (levelled, turned), keeping boxes down to `conf`; outside that crop, the
    boxes of the whole photo at the size the find read the display at (other rows of the
    display, a second display).
    Without a crop (nothing found), the find's boxes alone. In the photo's pixels."""
    import numpy as np

    from edge.detections import Detections
    from edge.pipeline import Reader

    probe = metric_detector(detector, conf)
    reader = Reader(detector, f"digits:{n_digits}", crop_size=crop_size)
    reading, _ = reader.read_image(image)
    tracker = reader.tracker
    found = probe.detect(image, (reader.found_at or tracker.find_sizes(image.shape)[0],) * 2)
    if tracker.roi is None:
        return found
    tracker.detector = probe
    pixels = reader.exposed(image)
    dets, to_frame = tracker.detect_crop(pixels, level="levelled" in reading.flags, turn="turned" in reading.flags)
    x1, y1, x2, y2 = tracker.roi
    centres = found.centers
    outside = ~((centres[:, 0] >= x1) & (centres[:, 0] <= x2) & (centres[:, 1] >= y1) & (centres[:, 1] <= y2))
    return Detections.concat([dets.transformed(to_frame), found[np.nonzero(outside)[0]]])
