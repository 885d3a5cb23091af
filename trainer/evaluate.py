"""Evaluate a model on the frozen test split and on real sessions with truth; one JSON report.

Detection scores come from Ultralytics' val (a .pt or an .onnx; a fixed-size ONNX such as the
peer's is validated at its own input size). Readings go through the reader's own code path,
edge.score.score_session, because mAP says little about whether a display is read right.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import DatasetError, ModelError
from edge.labels import CLASS_NAMES
from edge.score import load_truth
from edge.track import FIND_SIZE
from trainer.train import offline

log = logging.getLogger(__name__)


def fixed_input_size(model_path: Path) -> int | None:
    """The input size of an ONNX model with a fixed input, else None."""
    if Path(model_path).suffix != ".onnx":
        return None
    import onnx

    dims = onnx.load(str(model_path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    values = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return int(values[2]) if len(values) == 4 and values[2] and values[3] else None


def onnx_model(model_path: Path) -> Path:
    """`model_path`, when it is an .onnx: the reader's scoring (readings, sessions) runs ONNX
    Runtime, which a .pt would fail part way through the evaluation."""
    if Path(model_path).suffix.lower() != ".onnx":
        raise ModelError(f"{model_path}: evaluate takes an .onnx model (the reader's format); export it first")
    return Path(model_path)


def detection_metrics(model_path: Path, data_yaml: Path, imgsz: int = 256, batch: int = 16) -> dict:
    """mAP50, mAP50-95 and per-digit precision/recall on the `val` images of `data_yaml`."""
    offline()
    from ultralytics import YOLO

    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"model not found: {model_path}")
    imgsz = fixed_input_size(model_path) or imgsz
    model = YOLO(str(model_path), task="detect")
    with tempfile.TemporaryDirectory(prefix="segread-val-") as scratch:  # not ./runs/detect/val-N
        result = model.val(
            data=str(data_yaml), split="val", imgsz=imgsz, batch=batch, device="cpu" if _no_cuda() else 0,
            plots=False, verbose=False, workers=0, save_json=False, project=scratch, name="val", exist_ok=True,
        )
    names = result.names
    per_digit = {d: {"precision": None, "recall": None, "ap50_95": None} for d in CLASS_NAMES}
    for k, class_index in enumerate(result.box.ap_class_index):
        digit = str(names[int(class_index)])
        per_digit[digit] = {
            "precision": round(float(result.box.p[k]), 4),
            "recall": round(float(result.box.r[k]), 4),
            "ap50_95": round(float(result.box.ap[k]), 4),
        }
    return {
        "model": str(model_path),
        "imgsz": imgsz,
        "map50": round(float(result.box.map50), 4),
        "map50_95": round(float(result.box.map), 4),
        "per_digit": per_digit,
    }


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


def find_sessions(folder: Path) -> list[tuple[Path, Path]]:
    """(frames folder, truth csv) pairs: `<name>.csv` beside `<name>/`, or a csv inside a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"sessions folder not found: {folder}")
    pairs = []
    for csv in sorted(folder.glob("*.csv")):
        if (folder / csv.stem).is_dir():
            pairs.append((folder / csv.stem, csv))
    if not pairs:  # a single session folder holding its frames and its csv
        inside = sorted(folder.glob("*.csv"))
        if len(inside) == 1:
            pairs.append((folder, inside[0]))
    if not pairs:
        raise DatasetError(f"{folder}: no session with truth (expected <name>.csv beside a <name>/ frames folder)")
    for _, truth_csv in pairs:  # each table checked now, not after a model was trained to be scored on it
        load_truth(truth_csv)
    return pairs


def session_readings(model_path: Path, sessions_dir: Path, crop_size: int | None = None) -> dict:
    """Right / wrong-accepted / held counts per session and in total, read by the reader's code
    (display crops at `crop_size`, by default the size the model's metadata gives)."""
    try:
        from edge.score import score_session
    except ImportError as exc:
        raise ModelError(f"session scoring needs edge.score.score_session, which is not available: {exc}") from None
    per_session, total = {}, {"right": 0, "wrong_accepted": 0, "held": 0, "total": 0}
    for frames_dir, truth_csv in find_sessions(sessions_dir):
        score = dict(score_session(Path(model_path), frames_dir, truth_csv, crop_size=crop_size))
        per_session[frames_dir.name] = score
        for key in total:
            total[key] += int(score.get(key, 0))
    return {**total, "sessions": per_session}


# Two label boxes over one digit place overlap almost wholly. Boxes of neighbouring places on a
# sheared display (a camera off to one side, slanted digits) overlap by up to 40% of the narrower
# one: the reader's own rule (0.35) would drop a real digit of nine labeled photos, and score the
# reading "2312" of a 23:12 against "231".
LABEL_DUPLICATE = 0.7


def label_boxes(item):
    """A labeled photo's boxes as Detections in its pixels (confidence 1)."""
    import numpy as np

    from edge.detections import Detections

    w, h = item.width, item.height
    xyxy = [[(b.cx - b.w / 2) * w, (b.cy - b.h / 2) * h, (b.cx + b.w / 2) * w, (b.cy + b.h / 2) * h] for b in item.boxes]
    return Detections(np.array(xyxy, np.float32).reshape(-1, 4), np.ones(len(xyxy), np.float32), [b.cls for b in item.boxes])


def label_row(item):
    """The labels of the photo's main row (the reader's rule), one box per digit place, left to right."""
    import numpy as np

    from edge.reading import drop_overlaps, main_row

    row, _ = drop_overlaps(main_row(label_boxes(item)), LABEL_DUPLICATE)
    return row[np.argsort(row.xyxy[:, 0])]


def photo_truth(item) -> str | None:
    """The digits a reader should read off a labeled photo, left to right, one box per digit place
    (the reader's main-row rule applied to the labels, and duplicate boxes dropped); None for a
    display of several rows, where which row is "the reading" is the user's choice, not the model's."""
    from edge.reading import main_row

    labels = label_boxes(item)
    if not len(labels) or len(main_row(labels)) < len(labels):
        return None
    return "".join(label_row(item).digits)


def photo_readings(model_path: Path, items: list, crop_size: int | None = None, find_ladder: bool = True) -> dict:
    """Right / wrong-accepted / held over labeled single-row photos, each read alone by the
    reader's code; photos of several rows are counted in "multi_row_left_out"."""
    from edge.score import score_photos

    truths = [(item.image, photo_truth(item)) for item in items if item.boxes]
    photos = [(image, truth) for image, truth in truths if truth]
    report = score_photos(Path(model_path), photos, crop_size=crop_size, find_ladder=find_ladder)
    return {**report, "multi_row_left_out": len(truths) - len(photos)}


def photos_as_read(model_path: Path, items: list, crop_size: int | None = None) -> dict:
    """Detection scores of whole photos as the reader reads them (`edge.score.read_boxes`: the
    find, then its display crop read closer), against all their labels, with boxes down to
    confidence 0.001 (`trainer.metrics.box_map`). For a crop-reading model this is its figure on
    whole photos; one pass over the whole photo at 640 ("test") is its find pass alone, scored
    here too by the same code ("one_pass"). Each photo is read as a display of as many digits as
    its labels' main row holds. Both also over the single-row photos alone ("single_row"): a
    reader reads one row, and a session's display is one."""
    import cv2

    from edge.detect import OnnxDetector
    from edge.score import metric_detector, read_boxes
    from edge.track import FIND_SIZE
    from trainer.metrics import ImageBoxes, box_map

    detector = OnnxDetector(Path(model_path), device="cpu")
    probe = metric_detector(detector)
    as_read, one_pass, single = [], [], []
    for item in items:
        image = cv2.imread(str(item.image))
        if image is None:
            continue
        labels = label_boxes(item)
        found = read_boxes(detector, image, max(1, len(label_row(item))), crop_size)
        whole = probe.detect(image, (FIND_SIZE, FIND_SIZE))
        as_read.append(ImageBoxes(found.xyxy, found.confidence, found.class_id, labels.xyxy, labels.class_id))
        one_pass.append(ImageBoxes(whole.xyxy, whole.confidence, whole.class_id, labels.xyxy, labels.class_id))
        single.append(photo_truth(item) is not None)

    def scores(images: list, full: bool = False) -> dict:
        report = box_map(images)
        return report if full else {k: report[k] for k in ("map50", "map50_95", "images", "boxes")}

    def rows(images: list) -> list:
        return [im for im, one in zip(images, single) if one]

    return {
        "model": str(model_path), "crop_size": crop_size or detector.crop_size or detector.imgsz[0],
        **scores(as_read, full=True), "single_row": scores(rows(as_read)),
        "one_pass": {"imgsz": FIND_SIZE, **scores(one_pass), "single_row": scores(rows(one_pass))},
    }


def evaluate(
    model_path: Path, yamls: dict, sessions_dir: Path | None = None, imgsz: int = 256,
    crop_size: int | None = None, read_size: int | None = None, test_items: list | None = None,
    distant_items: list | None = None, as_read: bool = True,
) -> dict:
    """The report promotion compares, each part scored the way the reader uses the model, from
    the data.yaml of each part in `yamls` ("test" always; the views `trainer.crops.test_views`
    makes where given):
    {"test": the frozen test photos whole, at the find size 640 (a fixed-size model at its own);
     "test_at_imgsz": the same photos at the model's own size `imgsz`, the figure Ultralytics' val
         reports for a model trained at that size (only where it differs from "test");
     "test_crops": the reader's display crops of those photos at the model's crop size
         (`crop_size`, by default `imgsz`);
     "test_distant": those photos shrunk as a camera further away sees them (trainer.crops.
         make_distant), whole, at the find size: the find pass on a webcam's frames;
     "test_degraded": the display crops under glare, little light, compression or blur
         (trainer.crops.make_degraded), at the crop size;
     "test_read": the test photos whole, as the reader reads them: its find, then the display
         crop read closer (`photos_as_read`), the figure a crop-reading model has on whole photos;
     "test_distant_read": the distant photos (`distant_items`) as the reader reads them (these
         two with `as_read`);
     "test_readings": the single-row test photos (`test_items`) each read alone by the
         reader, digits against their labels: right, wrong-accepted, held;
     "sessions": readings on sessions with truth, or None; the reader reads its crops at
         `read_size` when given, else at the size the model's metadata says}."""
    report = {"test": detection_metrics(model_path, yamls["test"], FIND_SIZE)}
    if report["test"]["imgsz"] != imgsz and fixed_input_size(model_path) is None:
        report["test_at_imgsz"] = detection_metrics(model_path, yamls["test"], imgsz)
    crop = crop_size or imgsz
    for part, size in (("test_crops", crop), ("test_distant", FIND_SIZE), ("test_degraded", crop)):
        if yamls.get(part) is not None:
            report[part] = detection_metrics(model_path, yamls[part], size)
    if test_items and as_read:
        report["test_read"] = photos_as_read(model_path, test_items, read_size)
    if distant_items and as_read:
        report["test_distant_read"] = photos_as_read(model_path, distant_items, read_size)
    if test_items:
        report["test_readings"] = photo_readings(model_path, test_items, read_size)
    report["sessions"] = session_readings(model_path, sessions_dir, read_size) if sessions_dir else None
    return report


SUMMARY_HEAD = ["model", "whole photos at 640: mAP50 / mAP50-95", "whole photos as read: mAP50-95 (single-row)",
                "distant photos at 640: mAP50 / mAP50-95", "distant as read", "test crops mAP50-95 (size)", "degraded crops",
                "photos read: right / wrong-acc / held", "sessions: right / wrong-acc"]


def summary_row(name: str, report: dict) -> list[str]:
    """One model's figures from an `evaluate` report, as a row under SUMMARY_HEAD."""
    test, far = report["test"], report.get("test_distant") or {}
    crops, degraded = report.get("test_crops") or {}, report.get("test_degraded") or {}
    photos, sessions = report.get("test_readings") or {}, report.get("sessions") or {}
    read, far_read = report.get("test_read") or {}, report.get("test_distant_read") or {}
    return [
        name, f"{test['map50']:.3f} / {test['map50_95']:.3f}",
        f"{read['map50_95']:.3f} ({read['single_row']['map50_95']:.3f})" if read else "-",
        f"{far['map50']:.3f} / {far['map50_95']:.3f}" if far else "-",
        f"{far_read['map50_95']:.3f}" if far_read else "-",
        f"{crops['map50_95']:.3f} ({crops['imgsz']})" if crops else "-",
        f"{degraded['map50_95']:.3f}" if degraded else "-",
        f"{photos['right']}/{photos['total']} / {photos['wrong_accepted']} / {photos['held']}" if photos else "-",
        f"{sessions['right']}/{sessions['total']} / {sessions['wrong_accepted']}" if sessions else "-",
    ]


@dataclass(frozen=True)
class FrozenTest:
    """The frozen test split of some labeled folders, written out once for any number of models."""

    items: list
    yamls: dict  # {"test": whole photos, "test_crops": the reader's display crops, "test_distant", "test_degraded"}
    problems: list
    crops: list = field(default_factory=list)  # the reader's display crops of the test photos
    distant: list = field(default_factory=list)  # the test photos made distant, one frame each
    relabeled: tuple = ()  # test photos whose labels a --relabel folder replaced
    photos: str = "test"  # "test": the frozen test side; "all": every photo of the folders


PHOTOS = ("test", "all")


def frozen_test(data: list[Path], work_dir: Path = Path("runs/evaluate"), relabel: list[Path] | None = None,
                photos: str = "test") -> FrozenTest:
    """Gather `data` (labels replaced from `relabel` folders), take its frozen test side, and write
    its photos and the views of them that `trainer.crops.test_views` makes. `photos="all"` takes
    every photo instead: for a set that no model trained on (photos labeled since, held-back ones),
    where the split's other sides are unseen too."""
    from trainer import crops, dataset, split

    if photos not in PHOTOS:
        raise ValueError(f"photos must be one of {PHOTOS}, not {photos!r}")
    gathered = dataset.gather(list(data), relabel=relabel)
    test = split.split(gathered.items)["test"] if photos == "test" else list(gathered.items)
    if not test:
        raise DatasetError("no photo of --data falls in the frozen test split")
    views = crops.test_views(test, Path(work_dir))
    yamls = split.materialise({"test": test, **views}, Path(work_dir))
    fixed = set(gathered.relabeled)
    relabeled = tuple(i.image.name for i in test if i.image.name in fixed)
    return FrozenTest(test, yamls, [str(p) for p in gathered.problems], views["test_crops"], views["test_distant"],
                      relabeled, photos)


def trained_on(model_path: Path, data: list[Path]) -> list[Path]:
    """The folders of `data` that the model's card names as its training data (labeled folders
    or review corrections), compared as paths resolved from here."""
    from edge.models import read_card

    card = read_card(Path(model_path)).get("data", {})
    seen = {Path(f).resolve() for f in card.get("folders", []) + card.get("corrections", [])}
    return [folder for folder in data if Path(folder).resolve() in seen]


def evaluate_on_split(model_path: Path, test: FrozenTest, sessions_dir: Path | None = None,
                      read_size: int | None = None) -> dict:
    """`segread evaluate`: `evaluate` on a frozen test split, a model scored at the sizes its card
    gives (training size, crop size), one without a card at those its ONNX gives the reader;
    `read_size` overrides the crop size for the test crops and the sessions."""
    from edge.models import read_card

    training = read_card(Path(model_path)).get("training", {})
    if training:
        size, crop = training.get("imgsz", 128), training.get("crop_size")
    else:  # no card: the sizes the reader takes from the ONNX itself
        from edge.detect import OnnxDetector

        detector = OnnxDetector(Path(model_path), device="cpu")
        size, crop = detector.imgsz[0], detector.crop_size
    report = evaluate(Path(model_path), test.yamls, sessions_dir, size, read_size or crop or size,
                      read_size=read_size, test_items=test.items, distant_items=test.distant)
    extra = {"test_relabeled": list(test.relabeled)} if test.relabeled else {}
    return {"model": str(model_path), "photos": test.photos, "test_images": len(test.items), "problems": test.problems,
            **extra, **report}
