"""Fixtures for the service: a tiny real ONNX model that really reads its (toy) display, frames
for it, and config files.

The "strip model" takes a 64x64 image as four vertical strips; the grey level of strip i encodes
digit i as (d + 0.5) / 10 of full scale. Its output has the Ultralytics layout (1, 14, 4): four
fixed boxes, one per strip, and a score per class that peaks at the encoded digit. So a folder
of 64x64 PNGs is a display the service reads exactly, with no shared data and in about 1 ms.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

SIZE = 64
NAMES = {i: n for i, n in enumerate("1234567890")}


def make_strip_onnx(path: Path, names: dict | None = None) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    names = NAMES if names is None else names
    digit_of_class = np.array([int(names[k]) for k in sorted(names)], np.float32).reshape(1, 10, 1)
    boxes = np.zeros((1, 4, 4), np.float32)
    boxes[0, 0] = [8 + 16 * i for i in range(4)]  # cx
    boxes[0, 1] = SIZE / 2  # cy
    boxes[0, 2] = 14  # w
    boxes[0, 3] = 48  # h
    consts = {
        "shape": np.array([1, 4, 16], np.int64), "ten": np.array(10.0, np.float32), "half": np.array(0.5, np.float32),
        "one": np.array(1.0, np.float32), "classes": digit_of_class, "boxes": boxes, "axis1": np.array([1], np.int64),
    }
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["cols"], axes=[1, 2], keepdims=0),  # (1, 64)
        helper.make_node("Reshape", ["cols", "shape"], ["strips"]),  # (1, 4, 16)
        helper.make_node("ReduceMean", ["strips"], ["level"], axes=[2], keepdims=0),  # (1, 4)
        helper.make_node("Mul", ["level", "ten"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "half"], ["digit"]),
        helper.make_node("Unsqueeze", ["digit", "axis1"], ["digit3"]),  # (1, 1, 4)
        helper.make_node("Sub", ["digit3", "classes"], ["diff"]),  # (1, 10, 4)
        helper.make_node("Abs", ["diff"], ["dist"]),
        helper.make_node("Sub", ["one", "dist"], ["closeness"]),
        helper.make_node("Relu", ["closeness"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),  # (1, 14, 4)
    ]
    graph = helper.make_graph(
        nodes, "strip-digits",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 14, 4])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in (("names", repr(names)), ("imgsz", f"[{SIZE}, {SIZE}]"), ("stride", "32")):
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def strip_image(text: str) -> np.ndarray:
    """A 64x64 BGR image the strip model reads as `text` (four digits)."""
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    for i, ch in enumerate(text):
        img[:, 16 * i: 16 * (i + 1)] = int(round((int(ch) + 0.5) / 10 * 255))
    return img


def write_workout(folder: Path, seconds: int, per_second: int = 1, start: int = 0) -> list[str]:
    """PNG frames 0.png... of a MM:SS display advancing one second per `per_second` frames."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = []
    for i in range(seconds * per_second):
        v = start + i // per_second
        text = f"{v // 60:02d}{v % 60:02d}"
        cv2.imwrite(str(folder / f"{i}.png"), strip_image(text))
        texts.append(text)
    return texts


@pytest.fixture(scope="session")
def strip_models(tmp_path_factory) -> Path:
    """A read-only models folder: strip-a.onnx, strip-b.onnx (same graph, another name), broken.onnx."""
    folder = tmp_path_factory.mktemp("models")
    make_strip_onnx(folder / "strip-a.onnx")
    shutil.copy(folder / "strip-a.onnx", folder / "strip-b.onnx")
    (folder / "broken.onnx").write_bytes(b"\x08\x07not an onnx model" * 10)
    return folder


@pytest.fixture
def models_dir(strip_models, tmp_path) -> Path:
    """A writable copy with `current` naming strip-a."""
    folder = tmp_path / "models"
    shutil.copytree(strip_models, folder)
    (folder / "current").write_text("strip-a\n")
    return folder


def write_config(path: Path, models: Path, spec: Path | str, **sections) -> Path:
    data = {
        "source": {"spec": str(spec), "live": False},
        "model": {"pointer": str(models / "current"), "device": "cpu", "poll_s": 0.1},
        "reader": {"crop": False, "stretch": False},  # the strip model reads grey levels, which a stretch would move
        "dedup": {"enabled": False},
        "camera": {"stall_s": 1.0, "backoff_min": 0.05, "backoff_max": 0.2},
        "status": {"heartbeat_s": 0.2},
        "database": "state/segread.db", "frames_dir": "state/frames", "exports_dir": "state/exports",
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    path.write_text(json.dumps(data, indent=1))
    return path
