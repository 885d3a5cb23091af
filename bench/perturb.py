"""run3 read again under the conditions another session may bring: glare, a farther or nearer
camera, less light, blur, a tilted camera, heavy compression, sensor noise, haze, shake, a camera of
lower resolution.

The held-back sessions differ from run3 (one has heavy glare). This bench does not guess their
figures; it shows which condition a model's reading breaks under first, on real frames with a real
truth. Each condition is one fixed, deterministic change applied to every run3 frame (the glare
sits over the display, found once on frame 0 with the first model), written losslessly to a
temporary folder and read there through the reader's own loop (every frame, no dedup), like `segread read`. The
peer is read in the same run, through the same reader.

    python bench/perturb.py [--models models/current other.onnx ...] [--only "glare 0.3,far x0.6"] [--no-deskew] [--no-denoise] [--no-stretch] [--no-vote-decode] [--no-confirm-first] [--no-scan] [--no-blur-hold]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from _table import print_table  # bench/ is on sys.path: these run as scripts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
RUN3 = SHARED / "data/sessions/run3_0800-1200"
TRUTH = RUN3.with_suffix(".csv")
PEER = SHARED / "models/peer-baseline-yolov5n-640.onnx"


def glare(img: np.ndarray, box: tuple[int, int, int, int], strength: float, at: float = 0.7, size: float = 1.0,
          soft: float = 0.12) -> np.ndarray:
    """A bright ellipse over the display, as a window or lamp reflects: centred `at` across it
    (0.7: over the seconds; 0.3: over the minutes), `size` times the default's (0.35 of the
    display's width by 0.45 of its height, in half-axes), its edge blurred over `soft` of the
    display's width (0.05: the hard edge of a lamp's reflection, crossing a digit)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    blob = np.zeros(img.shape[:2], np.float32)
    axes = (int(0.35 * size * w) + 1, int(0.45 * size * h) + 1)
    cv2.ellipse(blob, (int(x1 + at * w), int(y1 + 0.45 * h)), axes, 20, 0, 360, 1.0, -1)
    blob = cv2.GaussianBlur(blob, (0, 0), max(2.0, soft * w))
    out = img.astype(np.float32) + strength * 255 * blob[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def about_display(img: np.ndarray, box: tuple[int, int, int, int], factor: float = 1.0, degrees: float = 0.0) -> np.ndarray:
    """The camera moved away (factor < 1), closer (> 1) or turned (degrees): the frame scaled and
    rotated about the display's centre, same frame size; what comes into view from outside the
    frame is the edge, replicated."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    m = cv2.getRotationMatrix2D((cx, cy), degrees, factor)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def noisy(img: np.ndarray, sigma: float, light: float = 1.0, per_frame: bool = False) -> np.ndarray:
    """Less light with the camera's gain turned up: the frame darker, then Gaussian sensor noise,
    the same every run. By default one noise pattern for every frame (a fixed seed per frame size),
    so a place loses the same segments frame after frame; `per_frame`, a pattern of each frame's
    own (seeded by its pixels), as a real sensor's noise changes from frame to frame."""
    seed = [img.shape[0] * 7919 + img.shape[1]] + ([int(img[::29, ::31].sum())] if per_frame else [])
    rng = np.random.default_rng(seed)
    out = img.astype(np.float32) * light + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def motion_blur(img: np.ndarray, length: int) -> np.ndarray:
    """A horizontal streak of LENGTH px, as a camera on a vibrating rowing machine smears it."""
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return cv2.filter2D(img, -1, kernel)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


CONDITIONS = {
    "none": lambda img, box: img,
    "glare 0.3": lambda img, box: glare(img, box, 0.3),
    "glare 0.6": lambda img, box: glare(img, box, 0.6),
    "glare 0.6 minutes": lambda img, box: glare(img, box, 0.6, at=0.3),
    "glare 0.6 minutes hard edge": lambda img, box: glare(img, box, 0.6, at=0.3, soft=0.05),
    "glare 0.7 all over": lambda img, box: glare(img, box, 0.7, at=0.5, size=2.0),
    # A small lamp's reflection, hard-edged, over the middle of the display: its edge crosses digits.
    "glare 0.5 spot hard edge": lambda img, box: glare(img, box, 0.5, at=0.5, size=0.6, soft=0.05),
    "far x0.6": lambda img, box: about_display(img, box, 0.6),
    "far x0.4": lambda img, box: about_display(img, box, 0.4),
    "near x1.6": lambda img, box: about_display(img, box, 1.6),
    "dark x0.5": lambda img, box: (img.astype(np.float32) * 0.5).astype(np.uint8),
    "blur s2": lambda img, box: cv2.GaussianBlur(img, (0, 0), 2.0),
    # A camera out of focus (a webcam's autofocus settled behind the display): run3's digits are 66 px tall.
    "blur s4": lambda img, box: cv2.GaussianBlur(img, (0, 0), 4.0),
    "blur s5": lambda img, box: cv2.GaussianBlur(img, (0, 0), 5.0),
    "blur s6": lambda img, box: cv2.GaussianBlur(img, (0, 0), 6.0),
    "blur s5 noise s10": lambda img, box: noisy(cv2.GaussianBlur(img, (0, 0), 5.0), 10, per_frame=True),
    # ... in a dim room: the reader stretches the little light there is, and the sensor's noise with it.
    "night blur s4": lambda img, box: noisy(cv2.GaussianBlur(img, (0, 0), 4.0), 8.0, light=0.3, per_frame=True),
    "night blur s5": lambda img, box: noisy(cv2.GaussianBlur(img, (0, 0), 5.0), 8.0, light=0.3, per_frame=True),
    # A lamp's hard-edged reflection in a dim room: in focus, but smoothed with the noise its edge looks soft too.
    "night glare hard edge": lambda img, box: noisy(glare(img, box, 0.6, at=0.3, soft=0.05), 8.0, light=0.3, per_frame=True),
    "far x0.5 blur s2": lambda img, box: cv2.GaussianBlur(about_display(img, box, 0.5), (0, 0), 2.0),
    "far x0.5 blur s3": lambda img, box: cv2.GaussianBlur(about_display(img, box, 0.5), (0, 0), 3.0),
    "tilt 8deg": lambda img, box: about_display(img, box, degrees=8.0),
    "jpeg q15": lambda img, box: jpeg(img, 15),
    "tilt -15deg": lambda img, box: about_display(img, box, degrees=-15.0),
    "tilt 15deg": lambda img, box: about_display(img, box, degrees=15.0),
    "tilt -25deg": lambda img, box: about_display(img, box, degrees=-25.0),
    "noise s12": lambda img, box: noisy(img, 12.0),
    "night": lambda img, box: noisy(img, 8.0, light=0.3),
    "night fresh noise": lambda img, box: noisy(img, 8.0, light=0.3, per_frame=True),
    "dim noise s4": lambda img, box: noisy(img, 4.0, light=0.3),
    "haze": lambda img, box: (img.astype(np.float32) * 0.4 + 140).astype(np.uint8),
    "haze heavy": lambda img, box: (img.astype(np.float32) * 0.3 + 160).astype(np.uint8),
    "dark x0.25": lambda img, box: (img.astype(np.float32) * 0.25).astype(np.uint8),
    "shake 9px": lambda img, box: motion_blur(img, 9),
    # A webcam of lower resolution, or a stream scaled down: the whole frame smaller (run3 is 1280x720).
    "res x0.5": lambda img, box: cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
    "res x0.25": lambda img, box: cv2.resize(img, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA),
}


def display_box(model: Path, frame: np.ndarray) -> tuple[int, int, int, int]:
    """The display's digits on one frame, as one box widened by a digit's height on each side."""
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader

    reading, _ = Reader(OnnxDetector(model, device="cpu"), "time").read_image(frame)
    if len(reading.digits) == 0:
        raise SystemExit(f"error: {model.name} finds no digits on {RUN3.name}/0.jpg; pass another model first")
    xyxy = reading.digits.xyxy
    h = float(np.median(xyxy[:, 3] - xyxy[:, 1]))
    x1, y1 = xyxy[:, :2].min(axis=0) - h
    x2, y2 = xyxy[:, 2:].max(axis=0) + h
    return int(x1), int(y1), int(x2), int(y2)


def condition_names(only: str | None, conditions: dict = CONDITIONS) -> list[str]:
    """The conditions `--only` names (comma-separated), every one of `conditions` without it; an
    unknown one is an error."""
    names = only.split(",") if only else list(conditions)
    unknown = [n for n in names if n not in conditions]
    if unknown:
        raise SystemExit(f"error: unknown condition {unknown[0]!r}; known: {', '.join(conditions)}")
    return names


def write_condition(name: str, box, out_dir: Path) -> None:
    out_dir.mkdir(parents=True)
    change = CONDITIONS[name]
    for path in RUN3.glob("*.jpg"):
        img = cv2.imread(str(path))
        # Lossless: the condition is the only change (a second JPEG pass would be another).
        cv2.imwrite(str(out_dir / f"{path.stem}.png"), change(img, box), [cv2.IMWRITE_PNG_COMPRESSION, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", type=Path, default=[ROOT / "models/current"])
    parser.add_argument("--peer", type=Path, default=PEER)
    parser.add_argument("--only", help=f"comma-separated conditions, of: {', '.join(CONDITIONS)}")
    parser.add_argument("--no-deskew", action="store_true", help="never read a tilted display's crop turned level")
    parser.add_argument("--no-denoise", action="store_true", help="never smooth a noisy display crop")
    parser.add_argument("--no-stretch", action="store_true", help="never stretch a frame whose grey levels span a narrow band")
    parser.add_argument("--no-vote-decode", action="store_true",
                        help="never read a faded minutes digit as the session's time (the steady places' vote)")
    parser.add_argument("--no-scan", action="store_true",
                        help="re-anchor a supported track on three agreeing readings (no SCAN-mode rules)")
    parser.add_argument("--no-blur-hold", action="store_true",
                        help="take readings of a camera out of focus as any other (edge.focus), not held as blurred")
    parser.add_argument("--no-confirm-first", action="store_true",
                        help="take a reading the session cannot check (its first) at once, not when the next follows it")
    args = parser.parse_args()
    if not RUN3.is_dir():
        raise SystemExit(f"error: {RUN3} not found: this bench reads the shared run3 session")

    from edge.focus import BLURRED
    from edge.models import resolve_model
    from edge.score import score_session

    names = condition_names(args.only)
    models = [resolve_model(m) for m in args.models] + ([args.peer] if args.peer.is_file() else [])
    box = display_box(models[0], cv2.imread(str(RUN3 / "0.jpg")))

    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(names):
            folder = Path(tmp) / f"c{i}"
            write_condition(name, box, folder)
            row = [name]
            for model in models:
                s = score_session(model, folder, TRUTH, deskew=not args.no_deskew, denoise=not args.no_denoise,
                                  stretch=not args.no_stretch, vote_decode=not args.no_vote_decode, confirm_first=not args.no_confirm_first,
                                  scan=not args.no_scan, blur_hold=None if args.no_blur_hold else BLURRED)
                row += [f"{s['right']}/{s['total']}", str(s["wrong_accepted"])]
            rows.append(row)
            print(f"  {name}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    print(f"run3 ({len(list(RUN3.glob('*.jpg')))} frames) under each condition, read through the reader's loop "
          f"(every frame, no dedup{', crops never turned' if args.no_deskew else ''}"
          f"{', crops never smoothed' if args.no_denoise else ''}"
          f"{', frames never stretched' if args.no_stretch else ''}"
          f"{', no vote-decoded readings' if args.no_vote_decode else ''}"
          f"{', first readings taken at once' if args.no_confirm_first else ''}"
          f"{', no SCAN-mode rules' if args.no_scan else ''}"
          f"{', no reading held as blurred' if args.no_blur_hold else ''}); display box from frame 0: {box}; "
          "2 CPU cores, onnxruntime CPU")
    head = ["condition"]
    for model in models:
        head += [f"{model.stem}: right", "wrong acc"]
    print_table(head, rows)


if __name__ == "__main__":
    main()
