"""Detection scores computed here from boxes in hand, for boxes that Ultralytics' val cannot make:
those the reader's own two passes give a whole photo (edge.score.read_boxes).

The definitions are the usual ones, as COCO and Ultralytics' val use them: at each IoU threshold
of 0.50, 0.55 ... 0.95, predictions are taken in order of confidence, and each is a true positive
when a label box of its class that no more confident prediction took overlaps it that much (the
closest such box); per class, average precision is the area under the precision envelope sampled
at 101 recall points; mAP is its mean over the classes that have label boxes. Given the boxes
Ultralytics' val keeps (edge.score.metric_detector: every class above 0.001 a box of its own), one
pass at 640 over the frozen test photos and over the distant ones agrees with its val to 0.0022,
for the shipped model and the peer alike; Ultralytics integrates the envelope where this samples
it. `tests/trainer/test_metrics.py` checks the definitions on cases worked by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.detections import box_iou
from edge.labels import CLASS_NAMES

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class ImageBoxes:
    """One image's predictions (xyxy, confidence, class) and label boxes (xyxy, class), in pixels."""

    pred_xyxy: np.ndarray
    pred_conf: np.ndarray
    pred_cls: np.ndarray
    true_xyxy: np.ndarray
    true_cls: np.ndarray


def match(pred_xyxy: np.ndarray, pred_conf: np.ndarray, pred_cls: np.ndarray, true_xyxy: np.ndarray,
          true_cls: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """(N predictions, T thresholds) bool: which predictions are true positives at each IoU
    threshold. As COCO matches: predictions in order of confidence, each takes the label box of
    its class, not yet taken at that threshold, that it overlaps most, if that reaches the
    threshold; a label box is taken at most once."""
    tp = np.zeros((len(pred_xyxy), len(thresholds)), bool)
    if not len(pred_xyxy) or not len(true_xyxy):
        return tp
    iou = box_iou(np.asarray(pred_xyxy, np.float32), np.asarray(true_xyxy, np.float32))  # (predictions, labels)
    iou = iou * (np.asarray(pred_cls)[:, None] == np.asarray(true_cls)[None, :])
    thresholds = np.asarray(thresholds)
    taken = np.zeros((len(true_xyxy), len(thresholds)), bool)
    for p in np.argsort(-np.asarray(pred_conf), kind="stable"):
        if iou[p].max() < thresholds.min():
            continue
        free = np.where((iou[p][:, None] >= thresholds[None, :]) & ~taken, iou[p][:, None], -1.0)  # (labels, T)
        best = free.argmax(axis=0)
        hit = free[best, np.arange(len(thresholds))] >= 0
        tp[p, hit] = True
        taken[best[hit], np.nonzero(hit)[0]] = True
    return tp


def average_precision(tp: np.ndarray, conf: np.ndarray, n_true: int) -> np.ndarray:
    """Per IoU threshold, the 101-point interpolated AP of predictions `tp` (N, T) ranked by
    `conf` against `n_true` label boxes; zeros where there are no label boxes or predictions."""
    if n_true == 0 or not len(tp):
        return np.zeros(tp.shape[1] if tp.ndim == 2 else len(IOU_THRESHOLDS))
    order = np.argsort(-np.asarray(conf), kind="stable")
    hits = np.cumsum(tp[order], axis=0)
    misses = np.cumsum(~tp[order], axis=0)
    recall = hits / n_true
    precision = hits / (hits + misses)
    aps = np.empty(tp.shape[1])
    for k in range(tp.shape[1]):
        # The envelope: at each rank, the best precision reached at this recall or beyond.
        envelope = np.maximum.accumulate(precision[::-1, k])[::-1]
        at = np.searchsorted(recall[:, k], RECALL_POINTS, side="left")
        sampled = np.where(at < len(envelope), envelope[np.minimum(at, len(envelope) - 1)], 0.0)
        aps[k] = sampled.mean()
    return aps


def box_map(images: list[ImageBoxes]) -> dict:
    """mAP50, mAP50-95, and per digit AP50-95 with precision and recall at IoU 0.5 where that
    digit's F1 is highest, over `images`."""
    tps, confs, classes, true_classes = [], [], [], []
    for im in images:
        tps.append(match(im.pred_xyxy, im.pred_conf, im.pred_cls, im.true_xyxy, im.true_cls))
        confs.append(np.asarray(im.pred_conf, np.float64))
        classes.append(np.asarray(im.pred_cls, np.int64))
        true_classes.append(np.asarray(im.true_cls, np.int64))
    tp = np.concatenate(tps) if tps else np.zeros((0, len(IOU_THRESHOLDS)), bool)
    conf = np.concatenate(confs) if confs else np.zeros(0)
    cls = np.concatenate(classes) if classes else np.zeros(0, np.int64)
    true_cls = np.concatenate(true_classes) if true_classes else np.zeros(0, np.int64)
    per_digit, aps = {}, []
    for c, digit in enumerate(CLASS_NAMES):
        n_true = int((true_cls == c).sum())
        mine = cls == c
        if n_true == 0:
            per_digit[digit] = {"precision": None, "recall": None, "ap50_95": None}
            continue
        ap = average_precision(tp[mine], conf[mine], n_true)
        aps.append(ap)
        precision, recall = _at_best_f1(tp[mine, 0], conf[mine], n_true)
        per_digit[digit] = {"precision": round(precision, 4), "recall": round(recall, 4), "ap50_95": round(float(ap.mean()), 4)}
    aps = np.array(aps) if aps else np.zeros((1, len(IOU_THRESHOLDS)))
    return {
        "map50": round(float(aps[:, 0].mean()), 4),
        "map50_95": round(float(aps.mean()), 4),
        "per_digit": per_digit,
        "images": len(images),
        "boxes": int(len(true_cls)),
    }


def _at_best_f1(tp50: np.ndarray, conf: np.ndarray, n_true: int) -> tuple[float, float]:
    """Precision and recall at IoU 0.5 at the rank where F1 is highest (0, 0 with no predictions)."""
    if not len(tp50):
        return 0.0, 0.0
    order = np.argsort(-conf, kind="stable")
    hits = np.cumsum(tp50[order])
    precision = hits / np.arange(1, len(hits) + 1)
    recall = hits / n_true
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-9)
    best = int(np.argmax(f1))
    return float(precision[best]), float(recall[best])
