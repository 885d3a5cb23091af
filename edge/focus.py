"""How sharp the display's digits are, and when a session's camera is too far out of focus to read.

Blur is a cliff for the model, not a slope, and on the far side of it the model is confidently
wrong. run3 blurred by a Gaussian of 4 px (its digits 64 px tall) read 143 frames right and none
wrong; by 5 px, 31 right and 114 wrong-accepted, the 9 of 95:xx read as a 5 steadily enough that
the sequence check followed 55:xx; by 6 px, none right and 64 wrong. The wrong readings scored as
high as the right ones (median confidence 0.72 against 0.74), so no confidence threshold tells
them apart; the edges do.

An edge's width in pixels is the grey range close around it (within half a digit's height) over
its gradient, at the row's steepest pixels, on the row median-filtered first (`edge_px`). The range
is taken that close because glare changes the light across the display, not within a segment's
width: taken over the whole row, a soft reflection over run3 measured as blurred as 6 px of blur.
The median filter keeps sensor noise out of the steepest pixels, where it made a blurred display
look sharp; where the noise is strong for the display's contrast (a dim room, whose little light
the reader stretches, and the noise with it), a light Gaussian smoothing in proportion to it does
the rest, and its own width is taken off again. The gradient (a 3x3 Sobel) spreads even a perfect
edge over about 2 px, so the width is taken less EDGE_FLOOR_PX (in quadrature), over the digit's
height (`blur_share`). Medians over run3 (every 10th frame, as the reader measures it): as it is
0.052, under glare 0.056-0.067, noise 0.085, night 0.098, JPEG 15 0.056; blurred by 2 px 0.105
(read 196 right), 3 px 0.143 (192), 4 px 0.175 (143), 5 px 0.202 (31, and 114 wrong), 6 px 0.222
(0, and 64 wrong), 8 px 0.243 (the model finds four digits in under half the frames from there);
blurred by 5 px with noise of sigma 6 or 10, 0.194 and 0.191; under "night", blurred by 3 px 0.150
(8 right and 4 wrong), 4 px 0.165 (1 and 8), 5 px 0.184 (1 and 7; 0.119 before the smoothing). At
half its size: 0.068, blurred by 1.5 px 0.143 (192 right), by 2 px 0.173 (71 right and 48 wrong:
smaller digits go wrong sooner), by 3 px 0.221 (63 wrong). The synthetic display's bold segments:
0.046 sharp, 0.137 blurred by 4 px and 0.182 by 6 px, both read right, about 0.24 by 8 px, read
wrong. Figures in brackets are read with no hold; `bench/perturb.py` reads with it. Digits under
LARGE_PX are not judged: their pixels alone blur them. Not caught: a camera a little out of focus
in a dim room, where the model goes wrong sooner (under "night", blurred by 3 px).

At BLURRED or more over the last WINDOW frames read whole (their median), the reader holds what
it reads as "blurred" instead of taking it, until the median falls RELEASE under it; the first
reading after is checked afresh, as a session's first. `segread look` warns from SOFT. It holds
run3 blurred by 4 px too (143 right and none wrong read on regardless: the cost of catching the
smaller display at the same share, and a camera that blurred is visibly out of focus), and the
synthetic display blurred by 6 px, which reads right. A camera in focus measures about a third of
BLURRED in good light and under two thirds in a dim room, so only a camera out of focus is held,
and its fix is the same on any display: focus it, or move it back past its closest focus.
`--blur-hold 0` (`[reader] blur_hold = 0`) reads on regardless.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

EDGE_FLOOR_PX = 1.5  # edge width a sharp edge measures by its pixels and the gradient alone
SMOOTH = 0.03  # a noisy patch is smoothed by a Gaussian of up to this share of a digit's height (run3: 2 px) ...
NOISY = 0.15  # ... in full from this noise share (`noise_share`), in proportion under it
# Why a dim room's hint asks for light before focus: smoothed with the noise, a lamp's hard-edged
# reflection measures as soft as a blurred display (`reason`, `segread look`, `read`'s closing hint).
NOISY_GLARE = "in a picture this noisy a lamp's reflection looks soft too"
LARGE_PX = 24  # digits shorter than this are soft by their pixels: not judged
SOFT = 0.14  # from here `look` warns (run3 blurred by 3 px: 0.143, read 192 of 200; 4 px: 0.175, 143)
BLURRED = 0.16  # from here readings are held: they go wrong (5 px: 0.202, 114 wrong of 145 taken; half size, 2 px: 0.173, 48 of 119)
RELEASE = 0.01  # ... and taken again once the median is this far under it
WINDOW = 9  # frames read whole whose median judges the camera's focus
BLUR_REASON = "blurred: "


def edge_px(image: np.ndarray, xyxy: np.ndarray) -> tuple[float | None, float | None]:
    """The width in pixels of the edges of the digits in boxes `xyxy` (frame pixels) on `image`, and
    the patch's `noise_share` (None, None where there is no patch under 4 px). The width: at
    the steepest hundredth of the row's pixels, the grey range within half a digit's height around
    each over its gradient there, the median; None where no edge can be measured (a patch under 4
    px, or flat). The range is taken that close so that glare, whose light changes over the display
    and not within a segment's width, widens no edge. The patch is median-filtered first (5 px):
    sensor noise would put its own speckle among the steepest pixels and make a blurred display
    look sharp (run3 blurred by 5 px with noise of sigma 10: 0.10 unfiltered, 0.17 filtered), while
    an edge passes a median filter as it is. Noise strong for the patch's contrast (`noise_share`)
    is smoothed further by a Gaussian of up to SMOOTH of a digit's height, whose own width is taken
    off the result: under "night", run3 blurred by 5 px measured 0.119 without it, 0.184 with it."""
    height, width = image.shape[:2]
    x1, y1 = np.clip(np.floor(xyxy[:, :2].min(axis=0)), 0, [width, height]).astype(int)
    x2, y2 = np.clip(np.ceil(xyxy[:, 2:].max(axis=0)), 0, [width, height]).astype(int)
    patch = image[y1:y2, x1:x2]
    if patch.shape[0] < 4 or patch.shape[1] < 4:
        return None, None
    grey = (cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch).astype(np.float32)
    filtered = cv2.medianBlur(grey, 5)
    noise, tall = noise_share(grey, filtered), digit_px(xyxy)
    sigma = SMOOTH * tall * min(noise / NOISY, 1.0)
    grey = cv2.GaussianBlur(filtered, (0, 0), sigma) if sigma > 0.1 else filtered
    steep = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)) / 8
    side = max(3, int(round(tall / 2)) | 1)
    near = np.ones((side, side), np.uint8)
    contrast = cv2.dilate(grey, near) - cv2.erode(grey, near)
    edges = steep >= max(float(np.percentile(steep, 99)), 1e-3)
    if not edges.any():
        return None, noise
    width = float(np.median(contrast[edges] / steep[edges]))
    # A Gaussian edge of sigma s measures s * sqrt(2 pi) wide, and the smoothing adds in quadrature.
    return (float(np.sqrt(max(width * width - 2 * np.pi * sigma * sigma, 0.0))) if sigma > 0.1 else width), noise


def noise_share(grey: np.ndarray, filtered: np.ndarray) -> float:
    """The sensor noise on a grey patch (the robust spread of what its median filter took off) as a
    share of its grey range (5th to 95th percentile, filtered): about 0.03 in daylight, under glare
    and JPEG, 0.17 with noise of sigma 12, 0.33 under "night"."""
    grey, filtered = grey[::2, ::2], filtered[::2, ::2]  # every fourth pixel tells as much, at a quarter of the cost
    noise = 1.4826 * float(np.median(np.abs(grey - filtered)))
    low, high = np.percentile(filtered, [5, 95])
    return noise / max(float(high - low), 1.0)


def digit_px(xyxy: np.ndarray) -> float:
    return float(np.median(xyxy[:, 3] - xyxy[:, 1])) if len(xyxy) else 0.0


def blur_share(image: np.ndarray, xyxy: np.ndarray) -> float | None:
    """How blurred the digits in boxes `xyxy` are: their edge width beyond a sharp edge's, as a
    share of a digit's height; None for digits under LARGE_PX, whose pixels alone blur them, and
    where no edge can be measured."""
    return measure(image, xyxy)[0]


def measure(image: np.ndarray, xyxy: np.ndarray) -> tuple[float | None, float | None]:
    """`blur_share` and the `noise_share` of the digits' patch; (None, None) for digits under LARGE_PX."""
    height = digit_px(xyxy)
    if height < LARGE_PX:
        return None, None
    width, noise = edge_px(image, xyxy)
    if width is None:
        return None, noise
    return float(np.sqrt(max(width * width - EDGE_FLOOR_PX**2, 0.0))) / height, noise


@dataclass
class FocusWatch:
    """The camera's focus over the last `window` frames read whole: `share` is the median of their
    `blur_share`; `blurred` says whether it reached `hold_at` (None: never), and stays so until the
    median falls RELEASE under it, so a camera at the line does not flap between holding and
    reading."""

    hold_at: float | None = BLURRED
    window: int = WINDOW
    _shares: deque = field(default=None, repr=False)
    _noise: deque = field(default=None, repr=False)  # the same frames' `noise_share`
    _holding: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._shares = deque(maxlen=self.window)
        self._noise = deque(maxlen=self.window)

    def add(self, image: np.ndarray, xyxy: np.ndarray) -> None:
        share, noise = measure(image, xyxy)
        if share is None:
            return
        self._shares.append(share)
        self._noise.append(noise)
        median = self.share
        if self.hold_at is None or median < self.hold_at - RELEASE:
            self._holding = False
        elif median >= self.hold_at:
            self._holding = True

    def clear(self) -> None:
        """Forget the frames seen: another camera."""
        self._shares.clear()
        self._noise.clear()
        self._holding = False

    @property
    def share(self) -> float | None:
        return float(np.median(self._shares)) if self._shares else None

    @property
    def blurred(self) -> bool:
        return self.hold_at is not None and self._holding

    @property
    def noisy(self) -> bool:
        """Whether the last frames were noisy for the display's contrast (their median `noise_share`
        NOISY or more: a dim room), where glare's edges, smoothed with the noise, look soft too."""
        return bool(self._noise) and float(np.median(self._noise)) >= NOISY

    def reason(self) -> str:
        edges = f"edges {100 * self.share:.0f}% of a digit's height over the last {len(self._shares)} frames"
        if self.noisy:  # under "night" a lamp's hard-edged reflection measured 0.17: out of focus is not all it may be
            return f"{BLUR_REASON}the display's edges are soft in a dim, noisy picture ({edges}): light the display, or focus the camera"
        return f"{BLUR_REASON}the display is out of focus ({edges}): focus the camera"
