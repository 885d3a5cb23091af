"""Training examples shaped like what the reader sees: crops of the display around the digits.

The reader finds the display on the full frame, then reads a crop: the union of the digit boxes
expanded by `pad * union_height` on every side (pad 0.6), letterboxed to a small input. From each
labeled photo we cut such crops with a random pad in [0.3, 1.2] and a small random shift, and carry
the labels over (a digit less than MIN_VISIBLE inside the crop is dropped: it was cut off).

On a display of several rows the reader reads one row, the crop around its main row's digits, and
never the crop around all of them; so a photo of several rows (`label_rows`) also gives one crop
around each of its rows, the other rows' digits in it labeled where they show.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from edge.errors import DatasetError, OutputError
from edge.labels import LabelBox, write_label_file
from edge.synth_scene import SOFT_GLARE_EDGE, degrade
from edge.track import FIND_SIZE, crop_box
from trainer.dataset import Dataset, Item, gather_folder

log = logging.getLogger(__name__)

PAD_RANGE = (0.3, 1.2)
SHIFT = 0.25  # largest shift, as a fraction of the union height
MIN_VISIBLE = 0.6  # a digit with less of its box inside the crop is dropped
READER_PAD = 0.6  # edge.track.DisplayTracker's default
MIN_DIGIT_PX = 10  # a photo trains as itself only if its digits stay this tall at imgsz
DISTANT_DIGIT_PX = (16.0, 40.0)  # digit heights at the find size that distant frames are made with
MIN_DISTANT_SIDE = 200  # smaller images (LCD-only crops) make no distant frames


def digit_height_at(item: Item, imgsz: int) -> float:
    """Median digit height in pixels once the item is letterboxed to imgsz."""
    if not item.boxes:
        return 0.0
    scale = imgsz / max(item.width, item.height)
    return float(np.median([b.h for b in item.boxes])) * item.height * scale


def boxes_in_window(boxes: list[LabelBox], width: int, height: int, window: tuple[int, int, int, int]) -> list[LabelBox]:
    """Labels of a crop: each box clipped to the window, dropped if mostly cut off."""
    cx1, cy1, cx2, cy2 = window
    cw, ch = cx2 - cx1, cy2 - cy1
    out = []
    for box in boxes:
        x1, y1, x2, y2 = box.to_xyxy(width, height)
        area = max(1e-9, (x2 - x1) * (y2 - y1))
        ix1, iy1, ix2, iy2 = max(x1, cx1), max(y1, cy1), min(x2, cx2), min(y2, cy2)
        if ix2 <= ix1 or iy2 <= iy1 or (ix2 - ix1) * (iy2 - iy1) / area < MIN_VISIBLE:
            continue
        out.append(LabelBox.from_xyxy(box.cls, (ix1 - cx1, iy1 - cy1, ix2 - cx1, iy2 - cy1), cw, ch))
    return out


def label_rows(xyxy: np.ndarray) -> list[np.ndarray]:
    """The rows of a photo's label boxes (N x 4, pixels), each as the indices of its boxes, tallest
    row first: the reader's main-row rule (`edge.reading.main_row`) applied to the labels, then to
    those left, until none is."""
    from edge.detections import Detections
    from edge.reading import in_main_row

    rows, left = [], np.arange(len(xyxy))
    while len(left):
        dets = Detections(np.asarray(xyxy, np.float32)[left], np.ones(len(left), np.float32), [0] * len(left))
        mask = in_main_row(dets)
        rows.append(left[mask])
        left = left[~mask]
    return rows


def make_crops(
    items: list[Item], out_dir: Path, per_image: int = 2, seed: int = 0,
    pad_range: tuple[float, float] = PAD_RANGE, shift: float = SHIFT, rows: bool = True,
) -> list[Item]:
    """Write `per_image` display crops of every labeled item and, with `rows` and any crops at
    all, one more of each row of an item of several rows (`label_rows`); crops keep their photo's
    source id."""
    out_dir = _out_dir(out_dir)
    crops = []
    for item in items:
        if not item.boxes:
            continue
        image = cv2.imread(str(item.image))
        if image is None:
            continue
        h, w = image.shape[:2]
        xyxy = np.array([b.to_xyxy(w, h) for b in item.boxes], np.float32)
        # One generator per item, seeded by its name: a photo's crops do not depend on the others.
        rng = np.random.default_rng([seed, *item.image.name.encode()])
        around = [(f"crop{k}", xyxy) for k in range(per_image)]
        item_rows = label_rows(xyxy) if rows and per_image else []  # --crops 0: no crops at all
        around += [(f"row{r}", xyxy[row]) for r, row in enumerate(item_rows)] if len(item_rows) > 1 else []
        for name, digits in around:
            window = crop_box(digits, w, h, rng.uniform(*pad_range), tuple(rng.uniform(-shift, shift, 2)))
            boxes = boxes_in_window(list(item.boxes), w, h, window)
            x1, y1, x2, y2 = window
            if boxes and x2 - x1 >= 8 and y2 - y1 >= 8:
                crops.append(_write(image[y1:y2, x1:x2], boxes, item, f"{item.image.stem}.{name}", out_dir))
    log.info("made %d display crops from %d photos", len(crops), len(items))
    return crops


def _out_dir(out_dir: Path) -> Path:
    """`out_dir`, with the images/ and labels/ folders that `_write` writes into."""
    out_dir = Path(out_dir)
    for sub in ("images", "labels"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    return out_dir


def _write(image: np.ndarray, boxes: list[LabelBox], item: Item, stem: str, out_dir: Path) -> Item:
    """One derived training image and its labels under out_dir/images, out_dir/labels; it keeps
    its photo's source id, so it lands on its photo's side of the split."""
    image_path, label_path = out_dir / "images" / f"{stem}.jpg", out_dir / "labels" / f"{stem}.txt"
    try:
        if not cv2.imwrite(str(image_path), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f"cv2 could not write {image_path}")
        write_label_file(label_path, boxes)
    except OSError as exc:
        raise OutputError(f"cannot write training images to {out_dir}: {exc}") from None
    return Item(image_path, tuple(boxes), item.source, image.shape[1], image.shape[0], label_path)


def make_distant(
    items: list[Item], out_dir: Path, per_image: int = 1, seed: int = 0,
    digit_px: tuple[float, float] = DISTANT_DIGIT_PX, find_size: int = FIND_SIZE,
) -> list[Item]:
    """Whole photos as a camera further away would see them: each photo shrunk so its digits are
    `digit_px` tall once the frame is letterboxed to `find_size` (the reader's find pass), placed
    at a random spot of a frame of its own size whose background is the photo itself, blurred
    until no digit shape is left. The labeled photos' digits are all 42 px or taller at 640; a
    webcam a metre or more from the display (run3: about 32 px) sees them smaller than any of them.
    Photos whose digits are already that small, and tiny LCD-only crops, are left as they are."""
    out_dir = _out_dir(out_dir)
    made = []
    for item in items:
        now = digit_height_at(item, find_size)
        if not item.boxes or min(item.width, item.height) < MIN_DISTANT_SIDE or now <= digit_px[1]:
            continue
        image = cv2.imread(str(item.image))
        if image is None:
            continue
        h, w = image.shape[:2]
        rng = np.random.default_rng([seed, 7, *item.image.name.encode()])
        for k in range(per_image):
            scale = rng.uniform(*digit_px) / now
            sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
            x0, y0 = int(rng.integers(0, w - sw + 1)), int(rng.integers(0, h - sh + 1))
            frame = cv2.GaussianBlur(image, (0, 0), sigmaX=max(w, h) / 25)
            frame[y0:y0 + sh, x0:x0 + sw] = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
            boxes = [LabelBox(b.cls, (x0 + b.cx * sw) / w, (y0 + b.cy * sh) / h, b.w * sw / w, b.h * sh / h)
                     for b in item.boxes]
            made.append(_write(frame, boxes, item, f"{item.image.stem}.far{k}", out_dir))
    log.info("made %d distant frames from %d photos", len(made), len(items))
    return made


DEGRADE_STYLES = {"narrow", "glare", "wide", "focus"}


def degraded_style(rng: np.random.Generator, size: int, styles: str = "narrow") -> dict:
    """Conditions a webcam's display crop meets that the labeled photos rarely show, each on its
    own chance, at least one always: glare washing out part of the LCD, little light, heavy
    compression, focus blur, haze; sensor noise throughout (more in little light). `size` is the
    crop's longer side: blur is drawn in pixels of a 128 px read.

    By default (narrow) light goes down to 0.4 and there is no haze: the styles the shipped model
    trained on, and the frozen test split's degraded view is made with (so its figures stay
    comparable). `wide` reaches 0.25 of the light and adds haze, for run3's "night" and "haze"
    conditions (bench/perturb.py), which go beyond the narrow styles. A CPU candidate trained on
    them (`segread-20261201-202146`) read haze, noise and JPEG 15 better but night worse (more
    wrong-accepted), and its gate kept it aside; so wide is the retrain's choice
    (`--degrade-styles wide`), not its default.

    `glare` is narrow with the glare's edge drawn from soft to hard (blurred over 0.04 to 0.25 of
    its size, always 0.25 in narrow): a lamp's reflection whose edge crosses a digit washes out
    part of it (an 8's middle bar, read 0), which run3 under bench/perturb.py's hard-edged glare
    over the minutes shows and the soft glare never taught. wide has it too.

    `focus` makes the focus blur up to 2.5 times stronger (0.6 to 4.5 px of a 128 px read): a webcam
    whose autofocus settled behind the display. run3 blurred by 6 px (its digits 66 px tall) read 1
    frame right and took 64 wrong readings, its 9 read as 5; the narrow blur reaches 1.8 px. Styles combine with commas ("glare,focus")."""
    kinds = set(styles.split(","))
    if not kinds <= DEGRADE_STYLES:
        raise ValueError(f"degrade styles {styles!r}: each of {', '.join(sorted(DEGRADE_STYLES))}")
    wide = "wide" in kinds
    style = {"noise": rng.uniform(0.003, 0.015)}
    while len(style) == 1:
        if rng.random() < 0.5:
            style["glare"] = rng.uniform(0.2, 0.7)
        if rng.random() < 0.4:
            style["exposure"] = rng.uniform(0.25 if wide else 0.4, 0.75)
        if rng.random() < 0.4:
            style["jpeg"] = int(rng.integers(10, 40))
        if rng.random() < 0.3:
            style["blur"] = rng.uniform(0.6, 1.8) * size / 128
        if wide and rng.random() < 0.2:
            style["haze"] = rng.uniform(0.35, 0.7)
    if kinds & {"glare", "wide"} and "glare" in style:  # drawn last: narrow's draws, the test view's, stay as they were
        style["glare_edge"] = rng.uniform(0.04, SOFT_GLARE_EDGE)
    if "focus" in kinds and "blur" in style:  # after the glare's edge: glare's draws stay as they were too
        style["blur"] *= rng.uniform(1.0, 2.5)
    return style


def make_degraded(items: list[Item], out_dir: Path, per_image: int = 1, seed: int = 0, styles: str = "narrow") -> list[Item]:
    """`per_image` copies of each item under `degraded_style` (the renderer's own degradations,
    edge.synth_scene.degrade, on the real image); boxes unchanged. run3 under glare, half the light
    or JPEG quality 15 (bench/perturb.py) loses most readings or accepts wrong ones."""
    out_dir = _out_dir(out_dir)
    made = []
    for item in items:
        image = cv2.imread(str(item.image)) if item.boxes else None
        if image is None:
            continue
        rng = np.random.default_rng([seed, 11, *item.image.name.encode()])
        for k in range(per_image):
            style = degraded_style(rng, max(image.shape[:2]), styles)
            out = degrade(image.astype(np.float32) / 255, rng, style)
            made.append(_write(out, list(item.boxes), item, f"{item.image.stem}.deg{k}", out_dir))
    log.info("made %d degraded copies of %d images", len(made), len(items))
    return made


def test_views(test: list[Item], out_dir: Path) -> dict[str, list[Item]]:
    """The frozen test photos as the reader also sees them, always the same ones: its display
    crops ("test_crops"), the photos made distant, one frame each, a fixed seed ("test_distant"),
    and those display crops degraded, one each, a fixed seed ("test_degraded")."""
    views = {"test_crops": reader_crops(test, Path(out_dir) / "crops"),
             "test_distant": make_distant(test, Path(out_dir) / "distant", per_image=1, seed=0)}
    views["test_degraded"] = make_degraded(views["test_crops"], Path(out_dir) / "degraded", per_image=1, seed=0)
    return views


def reader_crops(items: list[Item], out_dir: Path) -> list[Item]:
    """Exactly the crop the reader reads once it tracks the display: pad 0.6, no shift.

    The frozen test photos are scored through these as well as whole, so the test says how the
    model does on what the reader feeds it.
    """
    return make_crops(items, out_dir, per_image=1, pad_range=(READER_PAD, READER_PAD), shift=0.0, rows=False)


def synthetic_items(out_dir: Path, n: int, seed: int = 0) -> list[Item]:
    """Rendered display crops from the reader's own renderer (edge.synth), rare digits boosted.

    They go to the training side only: the frozen test split stays real photos.
    """
    try:
        from edge.synth import write_yolo_set
    except ImportError as exc:
        raise DatasetError(f"--synthetic needs edge.synth.write_yolo_set, which is not available: {exc}") from None
    images = Path(out_dir) / "images"
    if not (images.is_dir() and sum(1 for _ in images.glob("*.jpg")) >= n):  # a resumed run keeps what it trained on
        write_yolo_set(Path(out_dir), n, seed, kind="crop", rare_boost=True)
    dataset: Dataset = gather_folder(Path(out_dir))
    for problem in dataset.problems:
        log.warning("synthetic set: %s", problem)
    return [Item(i.image, i.boxes, f"synth:{i.source}", i.width, i.height, i.label) for i in dataset.items]
