"""ONNX export with the metadata the reader needs, and a parity check against the PyTorch model.

The export is dynamic, so the reader can run the same model at 640 on full frames and at 256 on
display crops. Parity: Ultralytics' own predict on the .pt and edge.detect.OnnxDetector on the
.onnx see the same images; boxes are matched by IoU and the largest coordinate and score
differences are reported. A candidate that fails parity is never promoted.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np

from edge.detect import CROP_SIZE_KEY, OnnxDetector
from edge.detections import Detections, box_iou
from edge.errors import ModelError
from edge.labels import DIGIT_TO_CLASS
from trainer.train import offline

log = logging.getLogger(__name__)

REQUIRED_METADATA = ("names", "imgsz", "stride")
BOX_TOLERANCE_PX = 1.0
SCORE_TOLERANCE = 0.01


def export_onnx(
    pt_path: Path, onnx_path: Path, imgsz: int, opset: int | None = None, crop_size: int | None = None
) -> Path:
    """Export `pt_path` to `onnx_path` (dynamic input size), then check its metadata. `crop_size`,
    when it differs from imgsz, goes into the metadata: the size the reader reads display crops at
    (a model trained at 640 for whole frames reads its crops at a smaller size)."""
    offline()
    from ultralytics import YOLO

    simplify = importlib.util.find_spec("onnxslim") is not None  # Ultralytics would pip-install it
    exported = YOLO(str(pt_path), task="detect").export(
        format="onnx", imgsz=imgsz, dynamic=True, simplify=simplify, opset=opset, device="cpu"
    )
    if not exported or not Path(exported).is_file():
        raise ModelError(f"ONNX export of {pt_path} produced no file")
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    if Path(exported).resolve() != onnx_path.resolve():
        shutil.move(str(exported), onnx_path)
    _fix_output_channels(onnx_path, crop_size if crop_size and crop_size != imgsz else None)
    check_metadata(onnx_path)
    return onnx_path


def _fix_output_channels(onnx_path: Path, crop_size: int | None = None) -> None:
    """Write the fixed 4 + nc channel count into the output shape, and the crop size (if any)
    into the metadata.

    torch's exporter leaves a symbolic name on that axis of a dynamic export; the reader checks
    it against the class count before it trusts the model.
    """
    import onnx

    model = onnx.load(str(onnx_path))
    meta = {p.key: p.value for p in model.metadata_props}
    nc = len(ast.literal_eval(meta.get("names", "{}")))
    dim = model.graph.output[0].type.tensor_type.shape.dim
    changed = False
    if nc and len(dim) == 3 and not dim[1].HasField("dim_value"):
        dim[1].dim_value = 4 + nc
        changed = True
    if crop_size:
        entry = model.metadata_props.add()
        entry.key, entry.value = CROP_SIZE_KEY, str(int(crop_size))
        changed = True
    if changed:
        onnx.save(model, str(onnx_path))


def check_metadata(onnx_path: Path) -> dict:
    """The exported model's metadata, raising ModelError when names/imgsz/stride are missing."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ModelError(f"{onnx_path}: metadata lacks {', '.join(missing)}")
    names = ast.literal_eval(meta["names"])
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    if sorted(map(str, names)) != sorted("0123456789"):
        raise ModelError(f"{onnx_path}: classes {names} are not the ten digits")
    return meta


def _torch_detections(model, image: np.ndarray, imgsz: int, conf: float, iou: float) -> Detections:
    # rect=False: a square letterbox, as the ONNX reader feeds it (not the minimal rectangle).
    result = model.predict(image, imgsz=imgsz, conf=conf, iou=iou, agnostic_nms=True, verbose=False, device="cpu",
                           rect=False)[0]
    names = result.names
    classes = result.boxes.cls.cpu().numpy().astype(int)
    return Detections(
        result.boxes.xyxy.cpu().numpy(),
        result.boxes.conf.cpu().numpy(),
        np.array([DIGIT_TO_CLASS[str(names[c])] for c in classes], np.int64),
    )


def compare(reference: Detections, other: Detections, margin: float) -> dict:
    """Match boxes by IoU; largest coordinate/score gap, and boxes only one side found.

    A box is only counted as unmatched when its score clears the threshold by `margin`: a box
    sitting right at the threshold may fall either side of it through rounding alone.
    """
    box_diff, score_diff, unmatched = 0.0, 0.0, 0
    used: set[int] = set()
    if len(reference) and len(other):
        ious = box_iou(reference.xyxy, other.xyxy)
    for i in range(len(reference)):
        j = int(ious[i].argmax()) if len(other) else -1
        if j < 0 or ious[i, j] < 0.5 or j in used or reference.class_id[i] != other.class_id[j]:
            unmatched += int(reference.confidence[i] >= margin)
            continue
        used.add(j)
        box_diff = max(box_diff, float(np.abs(reference.xyxy[i] - other.xyxy[j]).max()))
        score_diff = max(score_diff, float(abs(reference.confidence[i] - other.confidence[j])))
    unmatched += sum(1 for j in range(len(other)) if j not in used and other.confidence[j] >= margin)
    return {"box_diff": box_diff, "score_diff": score_diff, "unmatched": unmatched}


def parity(
    pt_path: Path,
    onnx_path: Path,
    images: list[Path],
    conf: float = 0.25,
    iou: float = 0.5,
    box_tolerance: float = BOX_TOLERANCE_PX,
    score_tolerance: float = SCORE_TOLERANCE,
) -> dict:
    """Run both models on the same images; {"passed", "max_box_diff_px", "max_score_diff", ...}."""
    offline()
    from ultralytics import YOLO

    model = YOLO(str(pt_path), task="detect")
    detector = OnnxDetector(onnx_path, device="cpu", conf_threshold=conf, iou_threshold=iou)
    imgsz = detector.imgsz[0]
    box_diff = score_diff = 0.0
    unmatched = boxes = checked = 0
    for path in images:
        image = cv2.imread(str(path))
        if image is None:
            continue
        ref = _torch_detections(model, image, imgsz, conf, iou)
        got = detector.detect(image)
        gap = compare(ref, got, conf + score_tolerance)
        box_diff, score_diff = max(box_diff, gap["box_diff"]), max(score_diff, gap["score_diff"])
        unmatched += gap["unmatched"]
        boxes += len(ref)
        checked += 1
    if not checked:
        raise ModelError("parity check: none of the given images could be read")
    passed = box_diff <= box_tolerance and score_diff <= score_tolerance and unmatched == 0
    report = {
        "passed": passed,
        "images": checked,
        "boxes": boxes,
        "imgsz": imgsz,
        "max_box_diff_px": round(box_diff, 4),
        "max_score_diff": round(score_diff, 5),
        "unmatched": unmatched,
        "box_tolerance_px": box_tolerance,
        "score_tolerance": score_tolerance,
    }
    (log.info if passed else log.warning)("parity %s: %s", "passed" if passed else "FAILED", report)
    return report
