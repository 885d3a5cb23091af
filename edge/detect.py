"""The inference boundary: `Detector.detect(image) -> Detections`, and its ONNX Runtime implementation.

The model is an Ultralytics-exported YOLO detector with output (1, 4 + nc, N): rows cx, cy, w, h
in input pixels, then one score per class. Letterboxing matches Ultralytics (scale to fit, pad
evenly with grey 114), so boxes are the ones Ultralytics' own predict would give.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from edge.detections import Detections, nms
from edge.errors import ModelError
from edge.labels import DIGIT_TO_CLASS

log = logging.getLogger(__name__)

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
PROVIDER_NAMES = dict(zip(PROVIDER_ORDER, ("TensorRT", "CUDA", "CPU")))
DEVICE_PROVIDERS = {
    "auto": PROVIDER_ORDER,
    "tensorrt": PROVIDER_ORDER,
    "cuda": PROVIDER_ORDER[1:],
    "cpu": PROVIDER_ORDER[2:],
}


class Detector(Protocol):
    """What the reader needs from a model."""

    names: tuple[str, ...]
    imgsz: tuple[int, int]
    model_id: str
    device_name: str  # what it runs on: "TensorRT", "CUDA", "CPU"

    def detect(self, image: np.ndarray) -> Detections: ...


def gpu_present() -> bool:
    """An NVIDIA GPU's device nodes exist (desktop driver or Jetson). onnxruntime-gpu lists its CUDA
    providers even on a machine without one, then fails noisily at session creation."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/nvhost-ctrl-gpu"))


def select_providers(device: str = "auto", available: Sequence[str] | None = None, gpu: bool | None = None) -> list[str]:
    """Execution providers to ask for, best first: TensorRT -> CUDA -> CPU, only those that can run here."""
    import onnxruntime as ort

    if device not in DEVICE_PROVIDERS:
        raise ModelError(f"unknown device {device!r}; choose one of {', '.join(DEVICE_PROVIDERS)}")
    available = list(ort.get_available_providers() if available is None else available)
    if not (gpu_present() if gpu is None else gpu):
        available = [p for p in available if p not in PROVIDER_ORDER[:2]]
    chosen = [p for p in DEVICE_PROVIDERS[device] if p in available]
    if device in ("cuda", "tensorrt") and not any(p != "CPUExecutionProvider" for p in chosen):
        raise ModelError(f"--device {device}: no usable GPU execution provider here (available: {', '.join(available)})")
    return chosen or ["CPUExecutionProvider"]


TENSORRT = PROVIDER_ORDER[0]
INPUT_SIZES = (32, 1280)  # the least and largest input side the reader may ask of a dynamic model


def engine_cache(model: Path) -> Path | None:
    """Where TensorRT keeps the engines it built for a model, so that a restart loads them instead
    of building them again: systemd's CacheDirectory (the service unit sets it), else the user's
    cache folder; one folder per model file's content (TensorRT's own cache key does not change
    with the weights); None, and a warning, where it cannot be made."""
    base = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "segread"
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
    folder = root / "tensorrt" / f"{model.stem}-{digest}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("TensorRT engines are not cached (%s: %s); each start builds them again", folder, exc.strerror)
        return None
    return folder


def tensorrt_options(input_name: str, dynamic: bool, opt_size: int, cache: Path | None) -> dict:
    """TensorRT provider options. A dynamic model gets one optimization profile over every input
    size the reader may use (INPUT_SIZES: the find ladder and the crop), tuned at the crop size it
    reads most; without one, TensorRT rebuilds its engine the first time each new size comes,
    which stalls the frame loop mid-session for as long as a build takes."""
    options: dict = {}
    if cache is not None:
        options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache))
    if dynamic:
        shape = lambda side: f"{input_name}:1x3x{side}x{side}"  # noqa: E731
        options.update(trt_profile_min_shapes=shape(INPUT_SIZES[0]), trt_profile_opt_shapes=shape(opt_size),
                       trt_profile_max_shapes=shape(INPUT_SIZES[1]))
    return options


def _open_session(path: Path, providers: list):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load model {path}: {first[:200]}") from None


def letterbox(image: np.ndarray, size: tuple[int, int], stride: int = 32) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping aspect ratio and pad to `size` (h, w) with grey 114, centred like Ultralytics.

    Returns the padded image, the scale applied and the (left, top) padding. A side that would
    shrink to under half a pixel (a frame 64 times wider than tall, a sliver of a crop) keeps one
    pixel: OpenCV's resize refuses a side of none, and such an image has no digits to find anyway.
    """
    h, w = image.shape[:2]
    new_h, new_w = size
    r = min(new_h / h, new_w / w)
    unpad_w, unpad_h = max(1, int(round(w * r))), max(1, int(round(h * r)))
    dw, dh = (new_w - unpad_w) / 2, (new_h - unpad_h) / 2
    if (w, h) != (unpad_w, unpad_h):
        image = cv2.resize(image, (unpad_w, unpad_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return image, r, (left, top)


def decode(output: np.ndarray, conf_threshold: float, iou_threshold: float, agnostic: bool = True,
           multi_label: bool = False, max_det: int | None = None) -> Detections:
    """Raw (4 + nc, N) output -> boxes above threshold after NMS, in input pixels, best first.
    `multi_label`: every class scoring above the threshold makes a box of its own, as a detection
    metric counts them (Ultralytics' val); otherwise each box is its best class alone."""
    pred = output.T  # (N, 4 + nc)
    scores = pred[:, 4:]
    if multi_label:
        rows, class_id = np.nonzero(scores >= conf_threshold)
        conf = scores[rows, class_id]
    else:
        class_id = scores.argmax(1)
        conf = scores[np.arange(len(scores)), class_id]
        rows = np.nonzero(conf >= conf_threshold)[0]
        class_id, conf = class_id[rows], conf[rows]
    if not len(rows):
        return Detections.empty()
    boxes, scores = pred[rows, :4], scores[rows]
    xyxy = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
    # Class-aware NMS offsets boxes per class; the reader wants one box per digit place, so the
    # default is agnostic: a 3 and an 8 on the same place compete and the better one wins.
    offsets = 0 if agnostic else class_id[:, None] * 4096.0
    keep = nms(xyxy + offsets, conf, iou_threshold)[:max_det]
    return Detections(xyxy[keep], conf[keep], class_id[keep], scores[keep])


class OnnxDetector:
    """An ONNX Runtime session over an Ultralytics-exported YOLO digit detector."""

    def __init__(
        self,
        path: str | Path,
        device: str = "auto",
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.5,
        warmup: bool = True,
    ) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model not found: {path}")
        ort.set_default_logger_severity(3)
        providers = select_providers(device)
        # TensorRT's options name the model's input, so the model is first opened on the CPU
        # (which also checks it before an engine build that can take minutes).
        tensorrt = providers[0] == TENSORRT
        self.session = _open_session(path, ["CPUExecutionProvider"] if tensorrt else providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{path}: expected one NCHW image input, got {[i.shape for i in inputs]}")
        self.input_name = inputs[0].name
        self.names = _names_from_metadata(meta, path)
        self.imgsz = _imgsz(meta, inputs[0].shape, path)
        self.dynamic = not all(isinstance(d, int) for d in inputs[0].shape[2:])
        # The display-crop size the trainer chose, when it is not the training size (a model
        # trained at 640 on whole frames reads its crops smaller); None: the training size.
        self.crop_size = _crop_size(meta, path) if self.dynamic else None
        self.stride = _stride(meta, path)
        out_shape = outputs[0].shape
        nc = len(self.names)
        if len(out_shape) != 3 or out_shape[1] != 4 + nc:
            raise ModelError(f"{path}: output shape {out_shape} is not (1, 4+{nc}, N) for {nc} classes")
        # Class ids are mapped onto the project's mapping (edge.labels), whatever the model's order.
        self._to_project_class = np.array([DIGIT_TO_CLASS[n] for n in self.names], np.int64)
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.agnostic = True  # one box per place for the reader; a detection metric ranks every class's (edge.score.read_boxes)
        self.multi_label, self.max_det = False, None  # a detection metric's: every class above the threshold, at most max_det
        self.path = path
        self.model_id = path.stem
        if tensorrt:
            options = tensorrt_options(self.input_name, self.dynamic, self.crop_size or self.imgsz[0],
                                       engine_cache(path))
            self.session = _open_session(path, [(TENSORRT, options), *providers[1:]])
        self.providers = self.session.get_providers()
        self.device_name = PROVIDER_NAMES.get(self.providers[0], self.providers[0])
        lost = [PROVIDER_NAMES.get(p, p) for p in providers if p not in self.providers]
        if lost:
            # ONNX Runtime falls back quietly when a GPU provider's libraries are missing or do not
            # match: a GPU box would read on the CPU, several times slower, with no word said.
            message = (f"{path.name}: ONNX Runtime could not start {' or '.join(lost)} (its CUDA, cuDNN or "
                       f"TensorRT libraries missing or mismatched?); reading on {self.device_name}")
            if device in ("cuda", "tensorrt") and self.device_name == "CPU":
                raise ModelError(message)
            log.warning(message)
        if warmup:
            self.detect(np.full((self.imgsz[0], self.imgsz[1], 3), 114, np.uint8))

    def preprocess(self, image: np.ndarray, imgsz: tuple[int, int] | None = None):
        size = imgsz if (imgsz and self.dynamic) else self.imgsz
        padded, r, pad = letterbox(image, size, self.stride)
        blob = cv2.dnn.blobFromImage(padded, 1 / 255.0, swapRB=True)
        return blob, r, pad

    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        """Detect digits in a BGR image; boxes come back in that image's pixels.

        `imgsz` (h, w) runs a dynamic-shape model at another input size (a small one for a crop of
        the display); a fixed-shape model always runs at its own size.
        """
        blob, r, (left, top) = self.preprocess(image, imgsz)
        output = self.session.run(None, {self.input_name: blob})[0][0]
        dets = decode(output, self.conf_threshold, self.iou_threshold, self.agnostic, self.multi_label, self.max_det)
        if not len(dets):
            return dets
        xyxy = (dets.xyxy - np.array([left, top, left, top], np.float32)) / r
        h, w = image.shape[:2]
        xyxy = np.clip(xyxy, 0, [w, h, w, h])
        # Scores in the project's class order: column k of the model is class _to_project_class[k].
        scores = np.empty_like(dets.class_scores)
        scores[:, self._to_project_class] = dets.class_scores
        return Detections(xyxy, dets.confidence, self._to_project_class[dets.class_id], scores)


def _literal(raw: str):
    """A Python literal written in the metadata (Ultralytics writes names and imgsz so), or None
    where it is none: a hand-made model's metadata can hold anything."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _shown(names: tuple[str, ...], first: int = 10) -> str:
    """Class names for an error message: all of a few, else how many and the first of them (a
    model for 80 COCO classes would fill the screen)."""
    if len(names) <= first:
        return f"classes {names}"
    return f"{len(names)} classes ({', '.join(map(repr, names[:first]))}, ...)"


def _names_from_metadata(meta: dict, path: Path) -> tuple[str, ...]:
    raw = meta.get("names")
    if not raw:
        raise ModelError(f"{path}: no class names in the model metadata (export it with Ultralytics)")
    names = _literal(raw)
    if isinstance(names, dict):
        try:
            names = [names[k] for k in sorted(names)]
        except TypeError:  # keys that do not sort ({0: "0", "a": "1"})
            names = None
    if not isinstance(names, (list, tuple)):
        raise ModelError(f"{path}: unreadable class names in metadata: {raw[:80]!r}")
    names = tuple(str(n) for n in names)
    if sorted(names) != sorted("0123456789"):
        raise ModelError(f"{path}: {_shown(names)} are not the ten digits 0-9")
    return names


def _stride(meta: dict, path: Path) -> int:
    raw = meta.get("stride", "32")
    stride = _literal(raw)
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= 128:
        raise ModelError(f"{path}: unreadable stride in metadata: {raw[:40]!r} (expected a whole number of pixels, such as 32)")
    return stride


CROP_SIZE_KEY = "segread_crop_size"  # metadata the trainer writes when crops read at another size


def _crop_size(meta: dict, path: Path) -> int | None:
    raw = meta.get(CROP_SIZE_KEY)
    if raw is None:
        return None
    size = _literal(raw)
    if isinstance(size, bool) or not isinstance(size, int) or not INPUT_SIZES[0] <= size <= INPUT_SIZES[1]:
        raise ModelError(f"{path}: unreadable {CROP_SIZE_KEY} in metadata: {raw[:40]!r}")
    return size


def _imgsz(meta: dict, shape: list, path: Path) -> tuple[int, int]:
    if isinstance(shape[2], int) and isinstance(shape[3], int):
        return int(shape[2]), int(shape[3])
    if "imgsz" not in meta:
        raise ModelError(f"{path}: input size is neither fixed nor in the metadata")
    raw = meta["imgsz"]
    size = _literal(raw)
    sides = list(size) if isinstance(size, (list, tuple)) else [size]
    sides = sides * 2 if len(sides) == 1 else sides  # one side: a square input
    least, most = INPUT_SIZES
    if len(sides) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and least <= v <= most for v in sides):
        raise ModelError(f"{path}: unreadable imgsz in metadata: {raw[:40]!r} (expected [height, width], "
                         f"each {least} to {most})")
    return sides[0], sides[1]
