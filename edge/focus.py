"""How sharp the display's digits are, and when a session's camera is too far out of focus to read.

Blur is a cliff for the model, not a slope, and on the far side of it the model is confidently
wrong. run3 blurred by a Gaussian of 4 px (its digits 64 px tall) read 143 frames right and none
wrong; by 5 px, 31 right and 114 wrong-accepted, the 9 of 95:xx read as a 5 steadily enough that
the sequence check followed 55:xx; by 6 px, none right and 64 wrong. The wrong readings scored as
high as the right ones (median confidence 0.72 against 0.74), so no confidence threshold tells
them apart; the edges do.

A digit's edge width (the grey range over the steepest gradient) in pixels stands for the blur.
The gradient itself (a 3x3 Sobel) spreads a perfectly sharp edge over about 2 px, so the width is
taken less EDGE_FLOOR_PX (in quadrature) and over the digit's height: run3 as it is 0.03; at half
its size 0.04, at a quarter 0.08 (by pixels alone, so digits under LARGE_PX are not judged);
blurred by 3 px 0.076 (192 right), by 4 px 0.093, by 5 px 0.107, by 6 px 0.121. At BLURRED or
more over the last WINDOW frames read whole (their median), the reader holds what it reads as
"blurred" instead of taking it; `segread look` warns from SOFT, where readings thin out.

Where the cliff lies depends on the display: the synthetic one's bold segments still read right at
0.29 (blurred by 6 px), run3's thin LCD segments not at 0.107. A camera in focus measures 0.03 to
0.04 on both, so only a camera out of focus is held, and its fix is the same on any display: focus
it, or move it back past its closest focus. `--blur-hold 0` (`[reader] blur_hold = 0`) reads on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

EDGE_FLOOR_PX = 1.5  # edge width a sharp edge measures by its pixels and the gradient alone
LARGE_PX = 24  # digits shorter than this are soft by their pixels: not judged
SOFT = 0.085  # from here readings thin out (run3 blurred by 4 px: 0.093, read 143 of 200)
BLURRED = 0.10  # from here readings go wrong (5 px: 0.107, 114 wrong-accepted of 145 taken)
WINDOW = 9  # frames read whole whose median judges the camera's focus
BLUR_REASON = "blurred: "


def edge_px(image: np.ndarray, xyxy: np.ndarray) -> float:
    """The width in pixels of the edges of the digits in boxes `xyxy` (frame pixels) on `image`:
    the grey range (5th to 95th percentile) over the steepest gradients (the 99th percentile)."""
    height, width = image.shape[:2]
    x1, y1 = np.clip(np.floor(xyxy[:, :2].min(axis=0)), 0, None).astype(int)
    x2, y2 = np.ceil(xyxy[:, 2:].max(axis=0)).astype(int)
    patch = image[y1:min(y2, height), x1:min(x2, width)]
    if patch.shape[0] < 4 or patch.shape[1] < 4:
        return 0.0
    grey = (cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch).astype(np.float32)
    steep = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)) / 8
    lo, hi = np.percentile(grey, (5, 95))
    return float((hi - lo) / max(float(np.percentile(steep, 99)), 1e-3))


def digit_px(xyxy: np.ndarray) -> float:
    return float(np.median(xyxy[:, 3] - xyxy[:, 1])) if len(xyxy) else 0.0


def blur_share(image: np.ndarray, xyxy: np.ndarray) -> float | None:
    """How blurred the digits in boxes `xyxy` are: their edge width beyond a sharp edge's, as a
    share of a digit's height; None for digits under LARGE_PX, whose pixels alone blur them."""
    height = digit_px(xyxy)
    if height < LARGE_PX:
        return None
    width = edge_px(image, xyxy)
    return float(np.sqrt(max(width * width - EDGE_FLOOR_PX**2, 0.0))) / height


@dataclass
class FocusWatch:
    """The camera's focus over the last `window` frames read whole: `share` is the median of their
    `blur_share`, and `blurred` says whether it reached `hold_at` (None: never)."""

    hold_at: float | None = BLURRED
    window: int = WINDOW
    _shares: deque = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._shares = deque(maxlen=self.window)

    def add(self, image: np.ndarray, xyxy: np.ndarray) -> None:
        share = blur_share(image, xyxy)
        if share is not None:
            self._shares.append(share)

    @property
    def share(self) -> float | None:
        return float(np.median(self._shares)) if self._shares else None

    @property
    def blurred(self) -> bool:
        return self.hold_at is not None and self.share is not None and self.share >= self.hold_at

    def reason(self) -> str:
        return (f"{BLUR_REASON}the display is out of focus (edges {100 * self.share:.0f}% of a digit's height "
                f"over the last {len(self._shares)} frames): focus the camera")
