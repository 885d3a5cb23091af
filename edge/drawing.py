"""Digit boxes drawn on a frame for a person to check: `segread look`'s saved frame, and `segread
review show --image`'s enlarged display. Each digit above its box and its score below, each no
wider than its box (a display's boxes touch), and a line of text across the top."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.errors import OutputError
from edge.files import write_bytes
from edge.focus import digit_px

FONT = cv2.FONT_HERSHEY_SIMPLEX
ACCEPTED, HELD = (0, 200, 0), (0, 165, 255)  # BGR: green, orange


def _pen(image: np.ndarray) -> tuple[int, float]:
    """Line thickness and font scale for an image of this size."""
    side = max(image.shape[:2])
    return max(1, round(side / 640)), max(0.4, side / 1600)


def draw_digits(image: np.ndarray, boxes: list[tuple[tuple[float, float, float, float], str, float | None]],
                colour: tuple[int, int, int]) -> None:
    """Boxes (xyxy, digit, score or None) drawn on `image` in place."""
    thick, scale = _pen(image)
    height = image.shape[0]
    for xyxy, digit, score in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in xyxy)
        size, pen = max(scale, (y2 - y1) / 100), max(thick, round((y2 - y1) / 50))  # as large as the digit allows
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, pen)
        texts = [(digit, True)] + ([(f"{score:.2f}".lstrip("0") if score < 1 else "1.0", False)] if score is not None else [])
        for text, above in texts:
            fit = size * min(1.0, max(x2 - x1, 1) / cv2.getTextSize(text, FONT, size, pen)[0][0])
            th = cv2.getTextSize(text, FONT, fit, pen)[0][1]
            y = y1 - 3 * pen if above else y2 + th + 3 * pen
            cv2.putText(image, text, (x1, min(max(y, th), height - 1)), FONT, fit, colour, pen, cv2.LINE_AA)


def banner(image: np.ndarray, text: str) -> None:
    """`text` in white on black across the top left of `image`, in place."""
    thick, scale = _pen(image)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    cv2.rectangle(image, (0, 0), (min(tw + 12, image.shape[1]), th + base + 12), (0, 0, 0), -1)
    cv2.putText(image, text, (6, th + 6), FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)


def zoom_on(image: np.ndarray, xyxy: np.ndarray, tall: int = 120) -> tuple[np.ndarray, float, tuple[int, int]]:
    """The part of `image` around the boxes `xyxy` (a digit's height beyond them on every side),
    scaled so that a digit is about `tall` pixels tall: (the crop, its scale, its top-left corner in
    `image`). The whole image, unscaled, where there are no boxes."""
    if len(xyxy) == 0:
        return image.copy(), 1.0, (0, 0)
    h = digit_px(xyxy)
    x1, y1 = (xyxy[:, :2].min(axis=0) - h).astype(int)
    x2, y2 = (xyxy[:, 2:].max(axis=0) + h).astype(int)
    x1, y1 = max(x1, 0), max(y1, 0)
    x2, y2 = min(x2, image.shape[1]), min(y2, image.shape[0])
    factor = float(np.clip(tall / max(h, 1.0), 1.0, 8.0))
    crop = cv2.resize(image[y1:y2, x1:x2], None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return crop, factor, (x1, y1)


def write_image(path: Path, image: np.ndarray) -> None:
    """`image` written to `path` (.png or .jpg, by its suffix) atomically; OutputError where it
    cannot be (a missing folder, a full disk)."""
    try:
        write_bytes(path, cv2.imencode(path.suffix.lower(), image)[1].tobytes())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
