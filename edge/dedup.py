"""The de-duplication gate: skip frames that would tell the reader nothing new."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class DedupGate:
    """Decide per frame whether to read it.

    A frame is read when at least `min_interval` seconds passed since the last read frame and the
    display region changed by more than `threshold`, or when `max_interval` seconds passed
    regardless. The change is the largest mean absolute difference (grey levels, 0-255) over the
    cells of a grid laid on a small thumbnail of the region: one digit of four changing moves its
    own cells a lot and the region's overall mean hardly at all, while sensor noise averages out
    within a cell.
    """

    min_interval: float = 0.25
    max_interval: float = 5.0
    threshold: float = 2.2  # 4x16 cells: a changed second of real run3 scores 2.8 and up, sensor noise under 1.5
    grid: tuple[int, int] = (4, 16)  # rows, columns: a cell is about one segment of one digit
    enabled: bool = True
    skipped_interval: int = 0
    skipped_same: int = 0
    _last_t: float | None = field(default=None, repr=False)
    _last_thumb: np.ndarray | None = field(default=None, repr=False)
    _last_roi: tuple[int, int, int, int] | None = field(default=None, repr=False)

    @staticmethod
    def thumbnail(image: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
        if roi is not None:
            x1, y1, x2, y2 = roi
            image = image[y1:y2, x1:x2]
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        return cv2.resize(grey, (64, 32), interpolation=cv2.INTER_AREA).astype(np.float32)

    def change(self, a: np.ndarray, b: np.ndarray) -> float:
        """Largest per-cell mean absolute difference between two thumbnails."""
        rows, cols = self.grid
        diff = np.abs(a - b)
        h, w = diff.shape
        cells = diff[: h - h % rows, : w - w % cols].reshape(rows, h // rows, cols, w // cols)
        return float(cells.mean(axis=(1, 3)).max())

    def update(self, image: np.ndarray, t: float, roi: tuple[int, int, int, int] | None = None) -> str | None:
        """None when the frame should be read, else why it is skipped ("interval" or "unchanged")."""
        if not self.enabled:
            return None
        if self._last_t is not None and t - self._last_t < self.min_interval:
            self.skipped_interval += 1
            return "interval"
        overdue = self._last_t is None or t - self._last_t >= self.max_interval
        if not overdue and self._last_thumb is not None:
            # The same region as last time: the tracked crop moves a pixel or two between reads,
            # and that must not count as the display changing.
            if self.change(self.thumbnail(image, self._last_roi), self._last_thumb) < self.threshold:
                self.skipped_same += 1
                return "unchanged"
        self._last_t, self._last_thumb, self._last_roi = t, self.thumbnail(image, roi), roi
        return None

    @property
    def skipped(self) -> int:
        return self.skipped_interval + self.skipped_same
