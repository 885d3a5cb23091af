"""Track the display: read a crop around it at a small input size, re-find it when the crop fails.

The LCD fills a small part of a 1280x720 frame. Finding it costs one full-frame pass at
`find_size`; after that each frame is read from a crop around the last digits at `crop_size`
(by default the crop size the trainer wrote into the model, else the size it was trained at).
Both sizes apply to models exported with a dynamic input; a fixed-input model reads both at its
own size, which still sharpens the crop.
The digits in a 1280x720 frame at 640 and in a display crop at 128 have about the same pixel
size, so one model trained on display crops serves both passes.

A display close to the camera (a photo that is mostly LCD) has digits far larger at 640 than any
the crop-trained model saw, so a find that yields no reading steps down a ladder: `find_size`,
then half of it, and half again, down to the crop size, the whole frame at each (`find_sizes`;
640, 320, 160 for the shipped model). `find_size` always comes first, so one lucky find at a
small size never steers later finds away from the size the camera set-up was made for; only a
frame smaller than `find_size` starts lower, at its own size, and is enlarged to `find_size` for
one last find only when its own sizes read nothing (`last_find`).

The tracker also keeps the tilt of the display's row (`row_angle`, where it last read whole); a
crop may be cut turned so that a leaning row comes out level (`detect_crop(turn=True)`), which the
reader tries on a tilted display and keeps where it reads better.

A crop heavy with sensor noise (a dim room with the camera's gain turned up) is smoothed before it
is read (`noise_percent`, `smooth`); a clean one never is. A frame whose grey levels span a narrow
band (haze, a washed-out or under-exposed camera) is stretched over the whole range before
anything is read from it (`stretch_narrow`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect import Detector
from edge.detections import Detections

FIND_SIZE = 640  # the whole frame is searched at this size first
BACKGROUND_ROWS = 32  # flatten_light estimates the background at this height
MIN_TURN = 8.0  # degrees: a row tilted less is read as the camera sees it (the labeled photos: 3 in 4 within 7)
TURN_HYSTERESIS = 2.0  # a tilted row stays tilted until it leans less than MIN_TURN by this much
MAX_TURN = 45.0  # a steeper "row" is not one
NOISY = 5.0  # a crop whose sensor noise is this percent of its grey range or more is smoothed first
SMOOTH_SIGMA = 1.0  # the smoothing: a Gaussian of this sigma in pixels of the model's input
NARROW_RANGE = 128  # a frame whose grey levels span fewer (1st to 99th percentile) is stretched first
STRETCH_FLOOR = 16  # ... unless they span fewer than this: nothing there but noise


def row_angle(digits: Detections) -> float | None:
    """The tilt of a row of digits in degrees (positive: its right end lower in the image), from
    a line fitted through the box centres; None for fewer than two boxes or a row that stands up."""
    if len(digits) < 2:
        return None
    cx, cy = digits.centers.T
    if np.ptp(cx) < 1.0:
        return None
    angle = float(np.degrees(np.arctan(np.polyfit(cx, cy, 1)[0])))
    return angle if abs(angle) <= MAX_TURN else None


def crop_box(
    digits_xyxy: np.ndarray, frame_w: int, frame_h: int, pad: float = 0.6, shift: tuple[float, float] = (0.0, 0.0)
) -> tuple[int, int, int, int]:
    """The union of the digit boxes grown by `pad` x its height on every side, moved by `shift` x
    its height, clamped to the frame. The trainer cuts its display crops with the same function."""
    x1, y1 = digits_xyxy[:, 0].min(), digits_xyxy[:, 1].min()
    x2, y2 = digits_xyxy[:, 2].max(), digits_xyxy[:, 3].max()
    margin = pad * (y2 - y1)
    dx, dy = shift[0] * (y2 - y1), shift[1] * (y2 - y1)
    return (
        int(max(0, np.floor(x1 - margin + dx))),
        int(max(0, np.floor(y1 - margin + dy))),
        int(min(frame_w, np.ceil(x2 + margin + dx))),
        int(min(frame_h, np.ceil(y2 + margin + dy))),
    )


def flatten_light(crop: np.ndarray, kernel: float = 0.6, clip: float = 2.0, tiles: int = 4) -> np.ndarray:
    """The crop with its background levelled and its contrast restored: glare from a window or a
    lamp adds a smooth bright patch over part of the LCD, which washes out the dark segments there.

    The background is the crop with its dark strokes closed away (a closing `kernel` x the crop's
    height across, wider than any segment), smoothed broadly; it is subtracted and its median added
    back, so most of the patch goes and each segment keeps its darkness against its own ground.
    (Smoothing by a sixth of the closing's width levels a synthetic patch better, yet read fewer of
    run3's frames under glare 0.3 with the shipped model: 35 against 68, in one bench run.)
    Levelled, the segments that were under the patch are still faint against a ground the glare
    lifted: contrast-limited histogram equalization of the lightness (`clip`, on `tiles` x `tiles`
    tiles) stretches each part of the crop to its own range. What the glare saturated stays lost.
    """
    # The background is smooth: it is found on the crop shrunk to BACKGROUND_ROWS rows (the
    # closing there costs a few hundredths of a millisecond, at full size 56 ms) and stretched
    # back; read at the true display box, 100 run3 crops per condition came out within 3 right
    # of the full-size levelling, except heavy glare (17 against 11 with the shipped model).
    # A sliver far taller than wide keeps one column: its width would round to none, which
    # OpenCV's resize refuses.
    scale = min(1.0, BACKGROUND_ROWS / crop.shape[0])
    fx = max(scale, 1.0 / crop.shape[1])
    small = cv2.resize(crop, None, fx=fx, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else crop
    k = max(3, int(kernel * small.shape[0]) | 1)
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    background = cv2.GaussianBlur(background.astype(np.float32), (0, 0), k / 2)
    level = np.median(background, axis=(0, 1))  # per channel
    background = cv2.resize(background, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    flat = np.clip(crop.astype(np.float32) - background.reshape(crop.shape) + level, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(flat, cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clip, (tiles, tiles)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def stretch_narrow(image: np.ndarray, narrow: int = NARROW_RANGE) -> np.ndarray | None:
    """The frame with its grey levels stretched over the whole range, or None where they span
    `narrow` levels or more (1st to 99th percentile, on every 8th pixel each way: 0.13 ms a
    1280x720 frame here).

    Haze, a camera that washes the scene out, or one left under-exposed squeezes every level into
    a narrow band (run3's frames span about 225 levels; under the perturbation bench's haze 90,
    at half the light 112, at a quarter 56), and the model's find then loses the display: under
    run3 x 0.3 + 160 (a span of 67) the shipped model found it on no frame. Stretched, the frame
    reads as a webcam's auto-exposure would have shown it. A frame of almost one level
    (under STRETCH_FLOOR: a blank wall, a covered lens) has nothing to stretch but its noise."""
    counts = np.cumsum(np.bincount(image[::8, ::8].ravel(), minlength=256))
    lo, hi = (int(v) for v in np.searchsorted(counts, (0.01 * counts[-1], 0.99 * counts[-1])))
    if hi - lo >= narrow or hi - lo < STRETCH_FLOOR:
        return None
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * 255.0 / (hi - lo), 0, 255).astype(np.uint8)
    return cv2.LUT(image, lut)


def noise_percent(crop: np.ndarray) -> float:
    """The crop's sensor noise as a percent of its grey range (5th to 95th percentile).

    The noise is estimated from the grey image's response to a kernel that cancels smooth shading
    and straight edges (Immerkaer's fast estimate), so the segments themselves add little: run3's
    clean crops come out near 0.3. It is measured against the range because a dim display's
    strokes are as faint as its noise is loud: noise of sigma 4 costs nothing at full light and a
    quarter of the readings at 0.3 of it.
    """
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if min(grey.shape[:2]) < 3:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = cv2.filter2D(grey.astype(np.float32), -1, kernel)[1:-1, 1:-1]
    sigma = np.sqrt(np.pi / 2) * float(np.mean(np.abs(response))) / 6
    counts = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    lo, hi = np.searchsorted(counts, (0.05 * counts[-1], 0.95 * counts[-1]))
    return 100 * sigma / max(float(hi - lo), 1.0)


def smooth(crop: np.ndarray, read_size: int | None) -> np.ndarray:
    """The crop blurred by SMOOTH_SIGMA pixels of the model's input (`read_size` across), so the
    same blur reaches the model whatever the crop's size in the frame."""
    scale = max(crop.shape[:2]) / read_size if read_size else 1.0
    return cv2.GaussianBlur(crop, (0, 0), SMOOTH_SIGMA * max(scale, 1.0))


# Frames whose width-to-height ratios differ by at most this share show the same view (`fit`).
SAME_SHAPE = 0.02


def scaled_box(box: tuple[int, int, int, int] | None, sx: float, sy: float, w: int, h: int) -> tuple[int, int, int, int] | None:
    """`box` in a frame scaled by (sx, sy) to w x h, inside it; None stays None."""
    if box is None:
        return None
    x1, y1, x2, y2 = box
    return (min(max(int(x1 * sx), 0), w), min(max(int(y1 * sy), 0), h),
            min(max(int(round(x2 * sx)), 0), w), min(max(int(round(y2 * sy)), 0), h))


@dataclass
class DisplayTracker:
    detector: Detector
    crop_size: int | None = None
    find_size: int = FIND_SIZE
    find_ladder: bool = True  # step down from find_size when a find yields no reading
    pad: float = 0.6
    roi: tuple[int, int, int, int] | None = None
    last_whole: tuple[int, int, int, int] | None = None  # the crop where all the digits last read
    deskew: bool = True  # a tilted display: try reading the tracked crop turned so that its row is level
    denoise: bool = True  # smooth a crop whose noise is NOISY percent of its range or more before reading it
    noisy: bool | None = None  # this frame's crop is noisy enough to smooth; None until its first crop read
    shape: tuple[int, int] | None = None  # the frame size (h, w) that roi and last_whole are in
    angle: float = 0.0  # the row's tilt where the display last read whole
    leaning: bool = False  # that tilt is MIN_TURN or more (less TURN_HYSTERESIS once it was)
    finds: int = 0
    crops: int = 0

    @property
    def read_size(self) -> int | None:
        """The input size of crop reads: the explicit one, the model's crop size, else None (its own)."""
        return self.crop_size or getattr(self.detector, "crop_size", None)

    def find_sizes(self, frame_shape: tuple[int, ...]) -> list[int]:
        """Whole-frame sizes to look for the display at, in order; one for a fixed-input model.

        These finds never enlarge the frame (`frame_shape`; `last_find` may, once, after them):
        sizes above its longer side, rounded up to the stride, are left out, and a frame smaller
        than the crop size is read at the crop
        size, as the display crop it is. Enlarged, a small photo's digits come out larger than
        any the crop-trained models saw (on the val photos, leaving them out read 60 of 70 right
        with the shipped model where the ladder from 640 read 58, and no more wrong-accepted for
        any of four models); a webcam's frame, 640 wide or more, keeps the whole ladder."""
        if not getattr(self.detector, "dynamic", False):
            return [self.find_size]
        crop = self.read_size or self.detector.imgsz[0]
        ladder, size = [self.find_size], self.find_size // 64 * 32  # halving, on the stride of 32
        while self.find_ladder and size >= crop:
            ladder.append(size)
            size = size // 64 * 32
        side = -(-max(frame_shape[:2]) // 32) * 32
        return [s for s in ladder if s <= side] or [max(crop, side)]

    def last_find(self, frame_shape: tuple[int, ...]) -> int | None:
        """The size of one more find, enlarged, for a frame smaller than `find_size` that its own
        sizes found no display on; None for a frame as large, a fixed-input model, or no ladder.
        A small frame's display is not always a close-up: a 416 px frame from a camera further
        away holds digits too small at 320 and 160 that the model finds at 640."""
        if not (self.find_ladder and getattr(self.detector, "dynamic", False)):
            return None
        return self.find_size if max(frame_shape[:2]) < self.find_size else None

    @property
    def smoothed(self) -> bool:
        """This frame's crop reads are smoothed (`denoise`, and its crop was judged noisy)."""
        return self.denoise and bool(self.noisy)

    @property
    def tilted(self) -> bool:
        """The display's row last read tilted by MIN_TURN or more, and `deskew` is on. A row that
        leans about MIN_TURN does not flip between the two from frame to frame: once tilted it
        stays so until it leans less than MIN_TURN - TURN_HYSTERESIS."""
        return self.deskew and self.leaning

    def fit(self, frame_shape: tuple[int, ...]) -> bool:
        """Ready the tracker for a frame of `frame_shape`; True when its size differs from the last
        frame's. The crop and where the display last read whole are in the last frame's pixels. A
        frame of another size of the same shape (a camera back at another resolution, a stream that
        switched size) shows the same view: both are scaled to it. Of another shape (another crop
        of the sensor, another camera) both are dropped, and the display is looked for again."""
        size = (int(frame_shape[0]), int(frame_shape[1]))
        changed = self.shape is not None and size != self.shape
        if changed:
            (old_h, old_w), (h, w) = self.shape, size
            if abs(w / h - old_w / old_h) <= SAME_SHAPE * old_w / old_h:
                self.roi, self.last_whole = (scaled_box(b, w / old_w, h / old_h, w, h) for b in (self.roi, self.last_whole))
            else:
                self.roi = self.last_whole = None
        self.shape = size
        return changed

    def detect_crop(self, image: np.ndarray, level: bool = False, turn: bool = False) -> tuple[Detections, np.ndarray]:
        """The digits in the crop around the display, in the crop's own pixels, and the 2x3 matrix
        that maps those to the frame's (`Detections.transformed`); `level`: its background levelled first.

        With `turn` and a `tilted` row, the crop is cut turned about its centre so that the row
        comes out level, from the frame itself (its corners hold real pixels, not a copied edge);
        its boxes, found level, map back to the upright boxes around the turned ones. Whether a
        turned crop reads better is the reader's to find out (`Reader._read_crop`).

        With `denoise`, a crop whose noise is NOISY percent of its range or more is smoothed
        (before levelling, whose equalization would lift the noise with the strokes); `smoothed`
        tells whether it was. The noise is judged on the frame's first crop read (`noisy`, which
        the reader clears for each frame). Run3 dimmed to 0.3 of the light with noise of sigma 8 read 94 frames
        right smoothed against 44 as it was, and the clean crops (near 0.3 percent) are never
        touched; at noise of sigma 4 or 6 in full light (2 and 3 percent) smoothing cost a reading
        each, so those are left as they are (`bench/perturb.py`; chosen on run3, so the held-back
        sessions are its test)."""
        x1, y1, x2, y2 = self.roi
        self.crops += 1
        if x2 - x1 < 1 or y2 - y1 < 1:  # digits clipped flat at the frame's edge: nothing to read
            return Detections.empty(), np.array([[1.0, 0.0, x1], [0.0, 1.0, y1]])
        crop = self.read_size
        size = (crop, crop) if crop else None
        if turn and self.tilted:
            w, h = x2 - x1, y2 - y1
            to_frame = cv2.getRotationMatrix2D((w / 2, h / 2), -self.angle, 1.0)
            to_frame[:, 2] += (x1, y1)
            pixels = cv2.warpAffine(image, to_frame, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REPLICATE)
        else:
            to_frame = np.array([[1.0, 0.0, x1], [0.0, 1.0, y1]])
            pixels = image[y1:y2, x1:x2]
        if self.denoise and self.noisy is None:  # judged once a frame: its other looks read the same pixels
            self.noisy = pixels.size > 0 and noise_percent(pixels) >= NOISY
        if self.smoothed:
            dynamic = getattr(self.detector, "dynamic", True)
            pixels = smooth(pixels, crop if crop and dynamic else max(self.detector.imgsz))
        return self.detector.detect(flatten_light(pixels) if level else pixels, size), to_frame

    def detect_full(self, image: np.ndarray, size: int | None = None) -> Detections:
        self.finds += 1
        size = size or self.find_size
        return self.detector.detect(image, (size, size))

    def follow(self, digits: Detections, image: np.ndarray, whole: bool = False) -> None:
        """Move the crop onto the digits just read (or drop it when there are none); `whole`: they
        are all the display's digits, so the crop is remembered as where the display is."""
        if len(digits):
            h, w = image.shape[:2]
            self.roi = crop_box(digits.xyxy, w, h, self.pad)
        else:
            self.roi = None
        if whole:
            self.last_whole = self.roi
            angle = row_angle(digits)
            if angle is not None:
                self.angle = angle
                self.leaning = abs(angle) >= MIN_TURN - (TURN_HYSTERESIS if self.leaning else 0.0)
