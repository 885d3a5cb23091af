"""Shared fixtures: the shared real data (skipped with a reason when absent), a tiny real ONNX model,
and a hand-written fake detector for the inference boundary."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from edge.detections import Detections

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SEGREAD_SHARED", ROOT.parent / "shared"))
RUN3 = SHARED / "data" / "sessions" / "run3_0800-1200"
RUN3_CSV = SHARED / "data" / "sessions" / "run3_0800-1200.csv"
DIGITS = SHARED / "data" / "digits"
PEER = SHARED / "models" / "peer-baseline-yolov5n-640.onnx"

os.environ.setdefault("YOLO_OFFLINE", "1")


def bench_module(name: str):
    """A script under bench/ loaded as a module (the benches import their helpers from beside them)."""
    import importlib.util
    import sys

    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not present: {path} (CI and developers have ../shared beside the checkout)")
    return path


def tiny_set(dest: Path, want: dict[str, int]) -> Path:
    """Photos of the shared digits set copied to DEST, one per source, `want[side]` of each split side."""
    import shutil

    from trainer.dataset import source_id
    from trainer.split import side

    digits = need(DIGITS)
    (dest / "images").mkdir(parents=True)
    (dest / "labels").mkdir()
    seen: set[str] = set()
    for image in sorted((digits / "images").glob("*.jpg")):
        source = source_id(image)
        if source in seen or want.get(side(source), 0) == 0:
            continue
        seen.add(source)
        want[side(source)] -= 1
        shutil.copy(image, dest / "images")
        shutil.copy(digits / "labels" / f"{image.stem}.txt", dest / "labels")
        if not any(want.values()):
            break
    return dest


@pytest.fixture(scope="session")
def run3() -> Path:
    need(RUN3_CSV)
    return need(RUN3)


@pytest.fixture(scope="session")
def peer_model() -> Path:
    return need(PEER)


class FakeDetector:
    """Implements the Detector interface; returns scripted detections per call, in order."""

    names = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")
    imgsz = (640, 640)
    model_id = "fake"
    device_name = "CPU"

    def __init__(self, script: list[Detections] | None = None, default: Detections | None = None):
        self.script = list(script or [])
        self.default = default if default is not None else Detections.empty()
        self.calls: list[tuple] = []

    def detect(self, image: np.ndarray, imgsz=None) -> Detections:
        self.calls.append((image.shape, imgsz))
        return self.script.pop(0) if self.script else self.default


def digits_at(text: str, conf: float = 0.9, x0: float = 100, y0: float = 100, w: float = 30, h: float = 60, gap: float = 10) -> Detections:
    """Detections for `text` laid out left to right like a real display."""
    from edge.labels import DIGIT_TO_CLASS

    xyxy = [[x0 + i * (w + gap), y0, x0 + i * (w + gap) + w, y0 + h] for i in range(len(text))]
    confs = conf if isinstance(conf, (list, tuple)) else [conf] * len(text)
    return Detections(np.array(xyxy, np.float32), np.array(confs, np.float32), [DIGIT_TO_CLASS[c] for c in text])


@pytest.fixture
def fake_detector():
    return FakeDetector


def make_tiny_onnx(
    path: Path, names: dict | None = None, n_out: int = 14, size: int = 64, dynamic: bool = False, extra: dict | None = None
) -> Path:
    """A real, valid ONNX model with the shape and metadata of an Ultralytics digit detector.

    Its output is a fixed set of candidate boxes (4 digits) whatever the input, scaled by the
    input mean so the graph really reads the image.
    """
    import onnx
    from onnx import TensorProto, helper

    names = names if names is not None else {i: n for i, n in enumerate("1234567890")}
    n_boxes = 8
    const = np.zeros((1, n_out, n_boxes), np.float32)
    for i in range(min(4, n_boxes)):
        const[0, 0:4, i] = [10 + i * 12, size / 2, 10, 20]
        if n_out > 4 + i:
            const[0, 4 + i, i] = 0.9
    hw = ["h", "w"] if dynamic else [size, size]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
            helper.make_node("Mul", ["m", "zero"], ["z"]),
            helper.make_node("Add", ["const", "z"], ["output0"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, *hw])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, n_out, n_boxes])],
        [
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("const", TensorProto.FLOAT, const.shape, const.flatten().tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"stride": "32", "task": "detect", "imgsz": f"[{size}, {size}]"}
    if names:
        meta["names"] = repr(names)
    meta.update(extra or {})
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    return make_tiny_onnx(tmp_path_factory.mktemp("models") / "tiny.onnx")


@contextmanager
def read_only(path: Path):
    """`path`, a file or a folder, made so that nobody, root included, may write to it (root needs
    chattr +i; the test is skipped where the filesystem refuses it), then writable again."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("as root, a read-only file or folder needs chattr +i, which this filesystem refuses")
    else:
        os.chmod(path, stat.S_IRUSR | (stat.S_IXUSR if path.is_dir() else 0))
    try:
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)])
        else:
            os.chmod(path, stat.S_IRWXU if path.is_dir() else stat.S_IRUSR | stat.S_IWUSR)


def still_frames(folder: Path, n: int) -> Path:
    """`n` image files the tiny model (`make_tiny_onnx`) reads as 12:34: a display that stays put."""
    import cv2

    folder.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), np.full((48, 64, 3), 100, np.uint8))
    return folder


def segread_cmd(*args) -> list[str]:
    """The command line of `segread ARGS` as a process of its own."""
    return [sys.executable, "-m", "edge.cli", *map(str, args)]


def sessions_by_source(db: Path) -> dict[str, dict]:
    """The session rows of `db` by source, read as another process would (none while it has none)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:  # not made yet
        return {}
    conn.row_factory = sqlite3.Row
    try:
        return {row["source"]: dict(row) for row in conn.execute("SELECT * FROM sessions ORDER BY id")}
    except sqlite3.OperationalError:  # its tables not made yet
        return {}
    finally:
        conn.close()


def read_beside(frames: Path, model: Path, db: Path) -> subprocess.Popen:
    """`segread read` of `frames` at 10 a second into `db`, returned running once its session is open."""
    proc = subprocess.Popen(segread_cmd("read", frames, "--model", model, "--db", db, "--no-dedup", "--no-queue", "--fps", 10),
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while sessions_by_source(db).get(str(frames), {}).get("status") != "open":
        assert proc.poll() is None and time.monotonic() < deadline, "the read beside never opened its session"
        time.sleep(0.1)
    return proc
