"""One detection type for every stage: boxes, scores and class ids as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.labels import CLASS_NAMES


@dataclass(frozen=True)
class Detections:
    """N detections in frame pixel coordinates.

    xyxy: (N, 4) float32, confidence: (N,) float32, class_id: (N,) int64, and optionally
    class_scores: (N, 10) float32, every class's score per box in the project's class order
    (edge.labels), which lets the reader weigh a second-best digit against the session so far.
    Index with a boolean mask or an index array to filter: `dets[dets.confidence > 0.5]`.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    class_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        conf = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        cls = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        if not len(xyxy) == len(conf) == len(cls):
            raise ValueError(
                f"Detections: xyxy has {len(xyxy)} rows, confidence {len(conf)}, class_id {len(cls)}"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)
        if self.class_scores is not None:
            scores = np.asarray(self.class_scores, dtype=np.float32)
            scores = scores.reshape(len(conf), -1) if scores.size else scores.reshape(0, len(CLASS_NAMES))
            if scores.shape[1] != len(CLASS_NAMES):
                raise ValueError(f"Detections: class_scores has {scores.shape[1]} columns, expected {len(CLASS_NAMES)}")
            object.__setattr__(self, "class_scores", scores)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index) -> "Detections":
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        scores = None if self.class_scores is None else self.class_scores[index]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], scores)

    @property
    def digits(self) -> list[str]:
        return [CLASS_NAMES[c] for c in self.class_id]

    @property
    def centers(self) -> np.ndarray:
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], 1)

    @property
    def widths(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    def shifted(self, dx: float, dy: float, scale: float = 1.0) -> "Detections":
        """Map boxes from a crop back to the frame: xyxy * scale + (dx, dy)."""
        offset = np.array([dx, dy, dx, dy], np.float32)
        return Detections(self.xyxy * scale + offset, self.confidence, self.class_id, self.class_scores)

    def transformed(self, matrix: np.ndarray) -> "Detections":
        """Map boxes through a 2x3 affine `matrix` (a turned crop's pixels to the frame's): each
        box becomes the upright box around its four mapped corners, as a labeler draws it."""
        x1, y1, x2, y2 = self.xyxy.T
        corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x1, y2], 1), np.stack([x2, y2], 1)], 1)
        mapped = corners @ np.asarray(matrix, np.float32)[:, :2].T + np.asarray(matrix, np.float32)[:, 2]
        xyxy = np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=1) if len(self) else self.xyxy
        return Detections(xyxy, self.confidence, self.class_id, self.class_scores)

    @classmethod
    def concat(cls, parts: list["Detections"]) -> "Detections":
        if not parts:
            return cls.empty()
        with_scores = all(p.class_scores is not None for p in parts)
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.class_scores for p in parts]) if with_scores else None,
        )

    def to_list(self) -> list[dict]:
        """JSON-ready: [{"digit", "conf", "xyxy"}, ...] in the current order."""
        return [
            {"digit": CLASS_NAMES[c], "conf": round(float(s), 4), "xyxy": [round(float(v), 1) for v in b]}
            for b, s, c in zip(self.xyxy, self.confidence, self.class_id)
        ]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) xyxy boxes."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    order = np.argsort(-scores)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        ious = box_iou(xyxy[i : i + 1], xyxy[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.array(keep, dtype=np.int64)
