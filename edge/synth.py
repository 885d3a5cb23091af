"""Synthetic seven-segment LCD frames whose truth is known exactly.

For the demo (a synthetic workout replayed through the reader), for tests, and as training data
for the rare digits 7, 8 and 9. numpy and OpenCV only; every image is a pure function of its
seed. Drawing lives in `edge.synth_scene`.

    frame = render_scene("0753", np.random.default_rng(1))
    frame.text, frame.boxes, frame.display_xyxy
"""

from __future__ import annotations

import csv
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.labels import DIGIT_TO_CLASS, LabelBox, write_classes, write_label_file
from edge.reading import DisplayFormat
from edge.synth_scene import (
    SEGMENTS,
    camera_matrix,
    degrade,
    draw_background,
    draw_monitor,
    draw_panel,
    light,
    panel_width,
    sample_style,
    transform_boxes,
)

__all__ = [
    "SynthFrame", "SyntheticWorkout", "render_display", "render_scene", "sample_style",
    "write_workout_folder", "write_yolo_set",
]


@dataclass(frozen=True)
class SynthFrame:
    """One rendered image and its exact truth.

    image: BGR uint8. text: the digits shown, left to right (blank positions left out).
    boxes: (len(text), 4) float32 xyxy of each digit around its lit segments, left to right.
    display_xyxy: the LCD window in image pixels.
    """

    image: np.ndarray
    text: str
    boxes: np.ndarray
    display_xyxy: tuple[float, float, float, float]


def _check_text(text: str, ghost: str | None) -> None:
    for s in (text, ghost or ""):
        bad = [c for c in s if c not in SEGMENTS]
        if bad:
            raise ValueError(f"cannot draw {bad[0]!r} in {s!r}: use digits 0-9 and spaces")
    if ghost is not None and len(ghost) != len(text):
        raise ValueError(f"ghost {ghost!r} must have as many characters as text {text!r}")


def _style(rng: np.random.Generator, style: dict | None) -> dict:
    st = sample_style(rng)
    unknown = set(style or {}) - set(st)
    if unknown:
        raise ValueError(f"unknown style keys: {sorted(unknown)}")
    st.update(style or {})
    return st


def render_display(
    text: str, rng: np.random.Generator, height: int = 96, ghost: str | None = None, style: dict | None = None
) -> SynthFrame:
    """Just the LCD window, as the reader crops it. `ghost`: the previous reading, fading faintly.

    `text` is digits, with a space for a blank position ("  78"). `style` overrides keys of
    `sample_style`. The same rng state gives the same image.
    """
    _check_text(text, ghost)
    st = _style(rng, style)
    panel, boxes = draw_panel(text, st, int(height), ghost)
    image = degrade(light(panel, st), rng, st, scale=height / 96)
    h, w = image.shape[:2]
    return SynthFrame(image, text.replace(" ", ""), boxes, (0.0, 0.0, float(w), float(h)))


def render_scene(
    text: str,
    rng: np.random.Generator,
    size: tuple[int, int] = (1280, 720),
    camera: tuple[float, float, float, float] | None = None,
    ghost: str | None = None,
    style: dict | None = None,
) -> SynthFrame:
    """A webcam-like frame of the monitor. `camera`: (dx, dy, scale, angle_deg), random if None.

    The clutter and monitor layout follow `style["layout_seed"]`, so a fixed style with a moving
    camera looks like one scene filmed over time.
    """
    _check_text(text, ghost)
    st = _style(rng, style)
    layout = np.random.default_rng(st["layout_seed"])
    lcd_w = size[0] * layout.uniform(0.13, 0.17)
    height = max(12, int(round(lcd_w / panel_width(len(text), st, 1.0))))
    panel, boxes = draw_panel(text, st, height, ghost)
    img = draw_background(layout, size)
    px, py = draw_monitor(img, panel, layout, st)
    boxes = boxes + np.array([px, py, px, py], np.float32)
    display = np.array([[px, py, px + panel.shape[1], py + panel.shape[0]]], np.float32)
    if camera is None:
        k = size[0] / 1280
        camera = (rng.uniform(-40, 40) * k, rng.uniform(-30, 30) * k, rng.uniform(0.85, 1.15), rng.uniform(-4, 4))
    m = camera_matrix(size, *camera)
    img = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    image = degrade(light(img, st), rng, st, scale=size[0] / 1280)
    limit = np.array([size[0], size[1], size[0], size[1]], np.float32)
    boxes = np.clip(transform_boxes(boxes, m), 0, limit)
    display = np.clip(transform_boxes(display, m), 0, limit)[0]
    return SynthFrame(image, text.replace(" ", ""), boxes, tuple(float(v) for v in display))


def _parse_mmss(start: str) -> int:
    try:
        minutes, seconds = (int(p) for p in start.split(":"))
    except ValueError:
        raise ValueError(f"start must be MM:SS, got {start!r}") from None
    if not (0 <= minutes <= 99 and 0 <= seconds <= 59):
        raise ValueError(f"start must be MM:SS within 00:00-99:59, got {start!r}")
    return minutes * 60 + seconds


class SyntheticWorkout:
    """A rowing session's time display filmed by a webcam: iterate for SynthFrames.

    The time advances one second per second of session time; at `fps` frames per second some
    readings repeat. MM:SS wraps to 00:00 after (wrap_minutes - 1):59 when `rollover`, else it
    stays there. The camera drifts slowly, lighting changes slowly with an occasional exposure
    jump, and about 10% of frames are caught mid-update (the previous reading fades as a ghost).
    The real Sunny monitor of run3 wraps after 98:59, i.e. wrap_minutes=99.
    """

    def __init__(
        self,
        seconds: int = 240,
        fps: float = 2.0,
        start: str = "00:00",
        seed: int = 0,
        size: tuple[int, int] = (1280, 720),
        rollover: bool = True,
        wrap_minutes: int = 100,
    ) -> None:
        if fps <= 0 or seconds < 0:
            raise ValueError(f"need fps > 0 and seconds >= 0, got fps={fps}, seconds={seconds}")
        self.seconds, self.fps, self.seed, self.size = seconds, fps, seed, tuple(size)
        self.rollover, self.wrap = rollover, wrap_minutes * 60
        self.start = _parse_mmss(start)
        n = int(round(seconds * fps))
        plan = np.random.default_rng([seed, 1])
        self.style = sample_style(plan)
        self.style.update(glare=0.0, motion=0.0, exposure=1.0)
        self._phase = plan.uniform(0, 1)
        ticks = np.floor(np.arange(n) / fps + self._phase).astype(int)
        self._ticks = ticks
        self._ghost = (plan.random(n) < 0.1) & (ticks > 0)
        t = np.arange(n) / max(n, 1)
        k = self.size[0] / 1280  # drift in pixels of a 1280-wide frame
        base = (plan.uniform(-30, 30) * k, plan.uniform(-20, 20) * k, plan.uniform(0.92, 1.08), plan.uniform(-2, 2))
        amp = plan.uniform(8, 20, 4) * k
        ph = plan.uniform(0, 2 * np.pi, 4)
        slow = np.pi * t * plan.uniform(0.6, 1.4)  # about half a cycle: the pose wanders, not oscillates
        self._dx = base[0] + amp[0] * np.sin(slow + ph[0]) + amp[1] * np.sin(6 * np.pi * t + ph[1]) * 0.3
        self._dy = base[1] + amp[2] * np.sin(slow + ph[2]) * 0.6 + amp[3] * np.sin(4 * np.pi * t + ph[3]) * 0.3
        self._scale = base[2] * (1 + 0.015 * np.sin(2 * np.pi * t + ph[1]))
        self._angle = base[3] + 0.5 * np.sin(2 * np.pi * t + ph[2])
        exposure = 1 + 0.08 * np.sin(2 * np.pi * t * plan.uniform(0.5, 2) + ph[3])
        for _ in range(1 + int(plan.poisson(seconds / 300))):  # occasional exposure jumps
            exposure[int(plan.integers(0, max(n, 1))):] *= plan.uniform(0.7, 1.3)
        self._exposure = np.clip(exposure * plan.uniform(0.7, 1.05), 0.45, 1.3)

    def __len__(self) -> int:
        return len(self._ticks)

    def _shown(self, elapsed: int) -> str:
        t = self.start + elapsed
        t = t % self.wrap if self.rollover else min(t, self.wrap - 1)
        return f"{t // 60:02d}{t % 60:02d}"

    def reading(self, index: int) -> str:
        """The digits shown at frame `index`, e.g. "0753"."""
        return self._shown(int(self._ticks[index]))

    def alt(self, index: int) -> str:
        """The previous reading if frame `index` is caught mid-update, else ""."""
        return self._shown(int(self._ticks[index]) - 1) if self._ghost[index] else ""

    def frame(self, index: int) -> SynthFrame:
        """Render frame `index` (random access; the same index always gives the same image)."""
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} outside 0..{len(self) - 1}")
        rng = np.random.default_rng([self.seed, 2, index])
        camera = (self._dx[index], self._dy[index], self._scale[index], self._angle[index])
        return render_scene(self.reading(index), rng, self.size, camera, self.alt(index) or None, self.style_at(index))

    def style_at(self, index: int) -> dict:
        """The drawing style of frame `index`: the workout's, at that frame's exposure."""
        return dict(self.style, exposure=float(self._exposure[index]))

    def __iter__(self):
        for index in range(len(self)):
            yield self.frame(index)

    def truth_rows(self) -> list[dict]:
        """Rows like the sessions' truth CSV: frame, reading, alt, mode, note."""
        return [
            {"frame": i, "reading": self.reading(i), "alt": self.alt(i), "mode": "time",
             "note": "mid-update: previous reading fades" if self._ghost[i] else ""}
            for i in range(len(self))
        ]


def write_workout_folder(
    out_dir: Path, seconds: int = 240, fps: float = 2.0, start: str = "00:00", seed: int = 0,
    size: tuple[int, int] = (1280, 720),
) -> Path:
    """Write 0.jpg ... N-1.jpg into `out_dir` and the truth `<out_dir>.csv` beside it; return the CSV."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    workout = SyntheticWorkout(seconds, fps, start, seed, size)
    for i, frame in enumerate(workout):
        cv2.imwrite(str(out_dir / f"{i}.jpg"), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    csv_path = out_dir.parent / f"{out_dir.name}.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["frame", "reading", "alt", "mode", "note"])
        writer.writeheader()
        writer.writerows(workout.truth_rows())
    return csv_path


_RARE_WEIGHTS = np.array([1, 1, 1, 1, 1, 1, 1, 3, 3, 3], np.float64)  # digits 0-9; 7, 8, 9 boosted


def random_text(rng: np.random.Generator, rare_boost: bool = True) -> str:
    """A 4-position display text: a time, or (rare_boost) any digits with 7-9 oversampled."""
    r = rng.random() if rare_boost else 0.0
    if r < 0.4:
        return f"{int(rng.integers(0, 100)):02d}{int(rng.integers(0, 60)):02d}"
    digits = "".join(str(d) for d in rng.choice(10, 4, p=_RARE_WEIGHTS / _RARE_WEIGHTS.sum()))
    if r > 0.85:  # a count with blank leading positions
        blanks = int(rng.integers(1, 4))
        digits = " " * blanks + digits[blanks:]
    return digits


def previous_text(text: str) -> str | None:
    """What a time or counter display showed one step before `text` (None for blank places)."""
    if not text.isdigit():
        return None
    is_time = len(text) == 4 and int(text[2:]) < 60
    fmt = DisplayFormat.parse("time" if is_time else f"digits:{len(text)}")
    return fmt.text((fmt.value(text) - 1) % (6000 if is_time else 10 ** len(text)))


def _crop(frame: SynthFrame, rng: np.random.Generator) -> SynthFrame:
    """Cut the LCD out with random margins, as the reader does before the model."""
    x1, y1, x2, y2 = frame.display_xyxy
    w, h = x2 - x1, y2 - y1
    ih, iw = frame.image.shape[:2]
    cx1 = int(max(0, x1 - w * rng.uniform(0.03, 0.6)))
    cy1 = int(max(0, y1 - h * rng.uniform(0.05, 0.9)))
    cx2 = int(min(iw, x2 + w * rng.uniform(0.03, 0.6)))
    cy2 = int(min(ih, y2 + h * rng.uniform(0.05, 0.9)))
    offset = np.array([cx1, cy1, cx1, cy1], np.float32)
    limit = np.array([cx2 - cx1, cy2 - cy1] * 2, np.float32)
    boxes = np.clip(frame.boxes - offset, 0, limit)
    display = tuple(float(v) for v in np.clip(np.array(frame.display_xyxy, np.float32) - offset, 0, limit))
    return SynthFrame(frame.image[cy1:cy2, cx1:cx2].copy(), frame.text, boxes, display)


def _write_labeled(out_dir: Path, i: int, seed: int, kind: str, rare_boost: bool) -> None:
    """Render and write image `i` of a labeled set; a pure function of (seed, i)."""
    rng = np.random.default_rng([seed, 3, i])
    text = random_text(rng, rare_boost)
    # Mid-update frames: the last reading's segments still fading (most often), or any other.
    u = rng.random()
    ghost = random_text(rng, rare_boost) if u < 0.1 else previous_text(text) if u < 0.3 else None
    size = (1280, 720) if rng.random() < 0.7 else (640, 480)
    frame = render_scene(text, rng, size, ghost=ghost)
    if kind == "crop":
        frame = _crop(frame, rng)
    h, w = frame.image.shape[:2]
    labels = [
        LabelBox.from_xyxy(DIGIT_TO_CLASS[d], box, w, h)
        for d, box in zip(frame.text, frame.boxes)
        if box[2] - box[0] > 1 and box[3] - box[1] > 1
    ]
    name = f"synth_{kind}_{seed}_{i:06d}"
    cv2.imwrite(str(out_dir / "images" / f"{name}.jpg"), frame.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    write_label_file(out_dir / "labels" / f"{name}.txt", labels)


def _write_range(args: tuple) -> None:
    out_dir, start, stop, seed, kind, rare_boost = args
    for i in range(start, stop):
        _write_labeled(out_dir, i, seed, kind, rare_boost)


def write_yolo_set(
    out_dir: Path, n: int, seed: int = 0, kind: str = "crop", rare_boost: bool = True, workers: int | None = None
) -> int:
    """Write `n` labeled images as out_dir/images/*.jpg + out_dir/labels/*.txt + classes.txt.

    kind "crop": the LCD with random margins of the case around it; "scene": full frames.
    `workers` processes render in parallel (default: one per core, up to 16); every image
    depends on (seed, index) alone, so the set is the same for any number of workers.
    Returns the number of images written.
    """
    if kind not in ("crop", "scene"):
        raise ValueError(f"kind must be 'crop' or 'scene', got {kind!r}")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    write_classes(out_dir)
    if workers is None:  # a process pays off from about 50 images on
        workers = min(os.cpu_count() or 1, 16, n // 50 or 1)
    workers = max(1, min(workers, n))
    chunk = -(-n // (workers * 4)) if n else 1
    ranges = [(out_dir, start, min(n, start + chunk), seed, kind, rare_boost) for start in range(0, n, chunk)]
    if workers == 1:
        for args in ranges:
            _write_range(args)
    else:
        # spawn, not fork: a forked child may inherit OpenCV's or ONNX Runtime's threads mid-lock.
        # Each worker is one process per core already: no OpenCV threads of its own.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
            list(pool.map(_write_range, ranges))
    return n
