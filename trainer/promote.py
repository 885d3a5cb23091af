"""Model cards, the promotion rule, and the atomic switch of `models/current`.

A candidate replaces the current model only when it passed the parity check and is not worse on
the frozen test split (mAP50-95, and the reader's readings of its photos where both reports have
them) and on session readings (right count, wrong-accepted count), all measured in the same run on
the same split; and when it is no more than a hair (SIDE_TOLERANCE) worse at finding a display
far away (`test_distant`) and at reading degraded crops (`test_degraded`). Otherwise it is kept
aside in `models/candidates/` with its card, which says why. Files are written under temporary names and renamed; the pointer is
switched last, so an interrupted retrain leaves `models/current` untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
from pathlib import Path
from typing import Callable

from edge.errors import OutputError
from edge.files import write_atomically
from edge.models import POINTER, resolve_model, set_current

CANDIDATES = "candidates"
FIRST_MODEL_FLOOR = 0.05  # a first model must find digits at all: test mAP50-95 at least this
# How much mAP50-95 a candidate may lose on the distant and degraded views of the test photos. A
# candidate 0.002 better on the crops and 0.022 worse on the distant photos (the find pass on a
# webcam's whole frame) read run3 under haze 1 / 200 where the current model read 180 / 200: its
# find lost the display. Kept-aside candidates of one recipe spread about 0.01 there.
SIDE_TOLERANCE = 0.01
SIDE_VIEWS = (("test_distant", "distant test photos (the find)"), ("test_degraded", "degraded test crops"))


def decide(candidate: dict, current: dict | None, parity: dict | None = None, tolerance: float = 0.0) -> tuple[bool, list[str]]:
    """(promote?, reasons). Metrics dicts look like evaluate.evaluate()'s report."""
    reasons = []
    if parity is not None and not parity.get("passed"):
        reasons.append(f"parity check failed (max box diff {parity.get('max_box_diff_px')} px, "
                       f"max score diff {parity.get('max_score_diff')}, unmatched {parity.get('unmatched')})")
    # Gate on what the reader reads most: its display crops when both reports have them.
    part = "test_crops" if "test_crops" in candidate and (current is None or "test_crops" in current) else "test"
    if current is None:
        score = candidate[part]["map50_95"]
        if score < FIRST_MODEL_FLOOR:
            reasons.append(f"first model: test mAP50-95 {score:.4f} < floor {FIRST_MODEL_FLOOR}")
        return not reasons, reasons or [f"no current model; test mAP50-95 {score:.4f}"]
    new, old = candidate[part]["map50_95"], current[part]["map50_95"]
    if new < old - tolerance:
        reasons.append(f"test mAP50-95 {new:.4f} < current {old:.4f}")
    kept = [f"test mAP50-95 {new:.4f} >= current {old:.4f}"]
    for view, label in SIDE_VIEWS:
        if not (candidate.get(view) and current.get(view)):
            continue
        new_v, old_v = candidate[view]["map50_95"], current[view]["map50_95"]
        if new_v < old_v - SIDE_TOLERANCE:
            reasons.append(f"{label} mAP50-95 {new_v:.4f} < current {old_v:.4f} - {SIDE_TOLERANCE}")
        else:
            kept.append(f"{label} {new_v:.4f} vs {old_v:.4f}")
    for key, label in (("test_readings", "test photos read"), ("sessions", "sessions")):
        new_r, old_r = candidate.get(key), current.get(key)
        if not (new_r and old_r):
            continue
        if new_r["right"] < old_r["right"]:
            reasons.append(f"{label} right {new_r['right']} < current {old_r['right']}")
        if new_r["wrong_accepted"] > old_r["wrong_accepted"]:
            reasons.append(f"{label} wrong-accepted {new_r['wrong_accepted']} > current {old_r['wrong_accepted']}")
        kept.append(f"{label} right {new_r['right']} >= {old_r['right']}, wrong-accepted "
                    f"{new_r['wrong_accepted']} <= {old_r['wrong_accepted']}")
    if reasons:
        return False, reasons
    return True, ["; ".join(kept)]


def current_model(models_dir: Path) -> Path | None:
    """The promoted .onnx, or None when `models/current` does not exist yet."""
    if not (Path(models_dir) / POINTER).is_file():
        return None
    return resolve_model(Path(models_dir) / POINTER)


def make_card(
    name: str,
    *,
    fingerprint: str,
    split_sizes: dict,
    settings: dict,
    device: str,
    minutes: float,
    epochs_done: int,
    metrics: dict,
    parent: str | None,
    parity: dict | None,
    problems: list[str] | None = None,
) -> dict:
    return {
        "name": name,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "device": device,
        "minutes": minutes,
        "epochs": epochs_done,
        "parent": parent,
        "data": {"fingerprint": fingerprint, "split": split_sizes, "problems": problems or []},
        "training": settings,
        "metrics": metrics,
        "parity": parity,
        "pt": f"{name}.pt",
    }


def _write(dst: Path, write: Callable[[Path], object]) -> None:
    try:
        write_atomically(dst, write)
    except OSError as exc:  # a full disk: one line, and no half file left
        raise OutputError(f"cannot write {dst}: {exc.strerror or exc}") from None


def _atomic_copy(src: Path, dst: Path) -> None:
    _write(dst, lambda tmp: shutil.copyfile(src, tmp))


def _atomic_json(data: dict, dst: Path) -> None:
    _write(dst, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def install(models_dir: Path, name: str, onnx_path: Path, pt_path: Path, card: dict, promote: bool) -> Path:
    """Place `<name>.onnx/.pt/.json` in models/ (and switch current) or in models/candidates/."""
    models_dir = Path(models_dir)
    folder = models_dir if promote else models_dir / CANDIDATES
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror or exc}") from None
    _atomic_copy(pt_path, folder / f"{name}.pt")
    _atomic_copy(onnx_path, folder / f"{name}.onnx")
    _atomic_json(card, folder / f"{name}.json")
    if promote:
        set_current(models_dir, name)
    return folder / f"{name}.onnx"
