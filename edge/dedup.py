"""The de-duplication gate: skip frames that would tell the reader nothing new."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

MIN_RANGE = 8.0  # grey levels: a region with less contrast (a covered camera, the light off) is judged against this


@dataclass
class DedupGate:
    """Decide per frame whether to read it.

    A frame is read when at least `min_interval` seconds passed since the last read frame and the
    display region changed by `min_change` or more, or when `max_interval` seconds passed
    regardless. The change is the largest change of a cell's mean grey level over a grid laid on a
    small thumbnail of the region, in percent of the region's grey range (5th to 95th percentile):
    one digit of four changing moves its own cells a lot and the region's overall mean hardly at
    all; sensor noise averages out within a cell's mean (not within a mean of absolute
    differences, whose floor is the noise itself); and a dim or hazy display's segments change it
    by as large a share of its range as a bright one's. (Measured in grey levels, with a
    threshold of 2.2, run3 at 0.3 of the light had 94 of its 200 frames skipped as unchanged,
    though nearly every one showed a new second.)
    """

    min_interval: float = 0.25
    max_interval: float = 5.0
    min_change: float = 1.0  # percent of the range: run3's changed seconds score 1.5 and up, a still display under noise of sigma 12 at most 1.2
    grid: tuple[int, int] = (4, 16)  # rows, columns: a cell is about one segment of one digit
    enabled: bool = True
    skipped_interval: int = 0
    skipped_same: int = 0
    _last_t: float | None = field(default=None, repr=False)
    _last_thumb: np.ndarray | None = field(default=None, repr=False)
    _last_roi: tuple[int, int, int, int] | None = field(default=None, repr=False)
    _last_shape: tuple[int, ...] | None = field(default=None, repr=False)  # the last read frame's (h, w)
    _last_range: float = field(default=MIN_RANGE, repr=False)

    @staticmethod
    def thumbnail(image: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
        if roi is not None and roi[2] > roi[0] and roi[3] > roi[1]:  # a region of no pixels: the whole frame
            x1, y1, x2, y2 = roi
            image = image[y1:y2, x1:x2]
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        return cv2.resize(grey, (64, 32), interpolation=cv2.INTER_AREA).astype(np.float32)

    def cells(self, thumb: np.ndarray) -> np.ndarray:
        """The mean grey level of each cell of the grid."""
        rows, cols = self.grid
        h, w = thumb.shape
        return thumb[: h - h % rows, : w - w % cols].reshape(rows, h // rows, cols, w // cols).mean(axis=(1, 3))

    @staticmethod
    def grey_range(thumb: np.ndarray) -> float:
        """The thumbnail's 5th to 95th percentile grey levels apart, at least MIN_RANGE (a covered
        camera's noise is no change)."""
        lo, hi = np.percentile(thumb, (5, 95))
        return max(float(hi - lo), MIN_RANGE)

    def change(self, a: np.ndarray, b: np.ndarray, grey_range: float | None = None) -> float:
        """Largest change of a cell's mean between thumbnails `a` (the last read) and `b`, in
        percent of a's grey range (`grey_range`, when already known)."""
        spread = grey_range if grey_range is not None else self.grey_range(a)
        return 100 * float(np.abs(self.cells(a) - self.cells(b)).max()) / spread

    def update(self, image: np.ndarray, t: float, roi: tuple[int, int, int, int] | None = None) -> str | None:
        """None when the frame should be read, else why it is skipped ("interval" or "unchanged")."""
        if not self.enabled:
            return None
        if self._last_t is not None and t - self._last_t < self.min_interval:
            self.skipped_interval += 1
            return "interval"
        overdue = self._last_t is None or t - self._last_t >= self.max_interval
        # A frame of another size (a camera back at another resolution) is read: the last
        # thumbnail was cut from the other frame's pixels, so no change can be measured against it.
        resized = image.shape[:2] != self._last_shape
        if not overdue and not resized and self._last_thumb is not None:
            # The same region as last time: the tracked crop moves a pixel or two between reads,
            # and that must not count as the display changing.
            if self.change(self._last_thumb, self.thumbnail(image, self._last_roi), self._last_range) < self.min_change:
                self.skipped_same += 1
                return "unchanged"
        self._last_t, self._last_thumb, self._last_roi = t, self.thumbnail(image, roi), roi
        self._last_shape = image.shape[:2]
        self._last_range = self.grey_range(self._last_thumb)
        return None

    @property
    def skipped(self) -> int:
        return self.skipped_interval + self.skipped_same
