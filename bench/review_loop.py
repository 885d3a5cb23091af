"""The review loop, measured on run3: read, queue, answer the queue from the truth, retrain, read again.

The truth CSV stands in for the reviewer. Two arms, each retrained the same way from the same model:

  queue   run3 read with the review queue attached (every frame, no dedup, frames 1.5 s apart);
          the queued items answered (spread across the queue, as `segread review list` lists
          pending items; --answer-order queued: in queue order) with the truth reading typed onto the
          pre-label boxes (`segread review fix`), at most --max-answers; items whose boxes are not
          one per digit (or whose frame the truth calls unreadable, `*`) are skipped as asked but
          unanswerable; the answered items exported as a YOLO folder.
  random  the same number of answers from frames picked at random (seeded), pre-labelled with the
          first read's boxes and answered the same way.

Each arm retrains on the shared digits plus its answers, from the current model, into a temporary
copy of the models folder (the real models/ is never written; run3 labels enter training only
here), and run3 is read again with the arm's candidate, promoted there or not. For the queue,
"error recall" is the share of the first read's not-right frames (wrong-accepted or held) that
were queued and "precision" the share of queued frames that were not right; for the random arm
the same shares are taken over the frames it asked about.

    python bench/review_loop.py [--model models/current] [--minutes 4] [--max-answers 40]
                                [--skip-random] [--work DIR] [--out results.json] [--device auto]
                                [--condition night]

With --condition, run3 is read under one of `bench/perturb.py`'s conditions (the same frames for
the first read, the answers and the read after). Each arm also reports the frames it did not
answer, which it never trained on.

Plumbing check without a project model (the peer has no .pt to fine-tune, so train from scratch):

    python bench/review_loop.py --model ../shared/models/peer-baseline-yolov5n-640.onnx \\
        --from scratch --imgsz 64 --minutes 0.5 --skip-random
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
DIGITS = SHARED / "data/digits"
RUN3 = SHARED / "data/sessions/run3_0800-1200"
TRUTH = RUN3.with_suffix(".csv")
INTERVAL = 1.5  # seconds between run3's frames
FMT = "time"
N_DIGITS = 4
JPEG_QUALITY = 92  # what the review queue saves a frame with
WHO = "truth-csv"

log = logging.getLogger("review_loop")


def typed_readings(csv_path: Path) -> dict[str, str]:
    """frame stem -> the reading a reviewer would type (the CSV's `reading`; `*` for unreadable)."""
    with open(csv_path, newline="") as fh:
        return {str(row["frame"]).strip(): row["reading"].strip() for row in csv.DictReader(fh)}


def reader_for(model: Path):
    from edge.detect import OnnxDetector
    from edge.pipeline import Reader

    return Reader(OnnxDetector(model, device="cpu"), FMT)  # no dedup gate: every frame is read


def read_run3(model: Path, frames: Path, db=None) -> tuple[list[dict], object]:
    """Read run3's `frames` with `model`: JSONL records, and the review queue when a database is given."""
    from edge.score import read_folder

    reader = reader_for(model)
    if db is None:
        return read_folder(reader, frames, interval=INTERVAL), None
    from edge.review.queue import ReviewQueue
    from edge.store import SessionLog

    session_log = SessionLog(db, source=str(frames), model=reader.detector.model_id, fmt=str(reader.fmt))
    queue = ReviewQueue.for_reader(db, reader, session_log)
    records = read_folder(reader, frames, interval=INTERVAL, session_log=session_log, on_result=queue.consider)
    return records, queue


def run3_under(condition: str, model: Path, out: Path) -> Path:
    """run3 under one of `bench/perturb.py`'s conditions, written losslessly to `out`."""
    import perturb  # bench/ is on sys.path

    if condition not in perturb.CONDITIONS:
        raise SystemExit(f"unknown condition {condition!r}; known: {', '.join(perturb.CONDITIONS)}")
    box = perturb.display_box(model, cv2.imread(str(RUN3 / "0.jpg")))
    perturb.write_condition(condition, box, out)
    return out


def score(records: list[dict], truth) -> dict:
    from edge.score import score_results

    return score_results(records, truth).as_dict()


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def selection_figures(asked: list[str], not_right: set[str], n_frames: int) -> dict:
    """Error recall and precision of a set of frames asked about, against the first read's mistakes."""
    asked_set = set(asked)
    hits = asked_set & not_right
    return {
        "frames": len(asked_set),
        "share_of_frames": share(len(asked_set), n_frames),
        "error_recall": share(len(hits), len(not_right)),
        "precision": share(len(hits), len(asked_set)),
        "not_right_missed": sorted(not_right - asked_set, key=int),
    }


def unanswerable_why(reading: str | None, boxes: list) -> str | None:
    if reading is None:
        return "no truth row"
    if reading == "*" or not reading.isdigit():
        return "truth says unreadable"
    if len(boxes) != N_DIGITS or len(reading) != N_DIGITS:
        return f"{len(boxes)} pre-label boxes"
    return None


def answer_queue(db, readings: dict[str, str], max_answers: int, order: str = "spread") -> dict:
    """Answer pending items from the truth, in `order` (as `segread review list --order` lists
    them), until `max_answers` are answered."""
    from edge.errors import ReviewError
    from edge.review.items import fix, list_items, skip

    answered, unanswerable, outcome = [], [], {"fixed": 0, "accepted": 0}
    for item in list_items(db, "pending", order):
        if len(answered) >= max_answers:
            break
        stem = Path(item.frame).stem
        reading = readings.get(stem)
        why = unanswerable_why(reading, item.prelabels)
        if why is None:
            try:
                outcome[fix(db, item.id, reading, WHO).status] += 1
                answered.append(stem)
                continue
            except ReviewError as exc:
                why = str(exc)
        skip(db, item.id, WHO)
        unanswerable.append({"frame": stem, "item": item.id, "why": why})
    return {"answered": answered, "unanswerable": unanswerable, **outcome}


def write_random_labels(out: Path, records: list[dict], readings: dict[str, str], n: int, seed: int, frames: Path) -> dict:
    """A YOLO folder of `n` answers from frames in seeded random order, pre-labelled with the first read's boxes."""
    from edge.labels import write_classes, write_label_file
    from edge.review.items import label_boxes, left_to_right

    by_frame = {Path(r["frame"]).stem: r for r in records}
    order = sorted(by_frame, key=int)
    random.Random(seed).shuffle(order)
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    write_classes(out)
    answered, unanswerable, outcome = [], [], {"fixed": 0, "accepted": 0}
    for stem in order:
        if len(answered) >= n:
            break
        boxes = left_to_right(by_frame[stem]["digits"])
        reading = readings.get(stem)
        why = unanswerable_why(reading, boxes)
        if why is not None:
            unanswerable.append({"frame": stem, "why": why})
            continue
        image = cv2.imread(str(frames / by_frame[stem]["frame"]), cv2.IMREAD_COLOR)
        h, w = image.shape[:2]
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok
        (out / "images" / f"frame-{stem}.jpg").write_bytes(jpeg.tobytes())
        labels = [{"digit": d, "xyxy": b["xyxy"]} for d, b in zip(reading, boxes)]
        write_label_file(out / "labels" / f"frame-{stem}.txt", label_boxes(labels, w, h))
        outcome["accepted" if [b["digit"] for b in boxes] == list(reading) else "fixed"] += 1
        answered.append(stem)
    return {"answered": answered, "unanswerable": unanswerable, **outcome}


def models_copy(model: Path, folder: Path) -> Path:
    """A models folder holding only `model` (its .onnx, card and .pt) as current."""
    from edge.models import read_card, set_current

    folder.mkdir(parents=True)
    card = read_card(model)
    for name in (model.name, model.with_suffix(".json").name, card.get("pt", model.with_suffix(".pt").name)):
        if (model.parent / name).is_file():
            shutil.copy2(model.parent / name, folder / name)
    set_current(folder, model.stem)
    return folder


def retrain_arm(arm: str, labels: Path, model: Path, work: Path, args, imgsz: int) -> dict:
    """Retrain on the shared digits plus `labels` into a private models folder; the candidate's card."""
    from edge.models import DEFAULT_MODELS_DIR
    from trainer.retrain import RetrainOptions, retrain
    from trainer.train import TrainSettings

    models_dir = models_copy(model, work / f"models-{arm}")
    assert models_dir.resolve() != DEFAULT_MODELS_DIR.resolve()
    settings = TrainSettings(minutes=args.minutes, imgsz=imgsz, crop_size=args.crop_size, device=args.device, seed=args.seed)
    options = RetrainOptions(
        data=[DIGITS], corrections=[labels], models_dir=models_dir, runs_dir=work / "runs", start=args.start,
        settings=settings, name=f"{model.stem}-loop-{arm}",  # never the parent's name
    )
    return retrain(options)


def run_arm(arm: str, labels: Path, answers: dict, model: Path, work: Path, args, imgsz: int, truth,
            frames: Path, first: list[dict]) -> dict:
    start = time.monotonic()
    card = retrain_arm(arm, labels, model, work, args, imgsz)
    records = read_run3(Path(card["path"]), frames)[0]
    # The frames this arm did not answer: read again, they were never trained on.
    answered = set(answers["answered"])
    unseen = [r for r in records if Path(r["frame"]).stem not in answered]
    unseen_before = [r for r in first if Path(r["frame"]).stem not in answered]
    return {
        "answers": answers,
        "trained_on": sum(1 for _ in (labels / "images").iterdir()),  # corrections all train
        "candidate": {
            "path": card["path"], "promoted_in_temp": card["decision"]["promoted"],
            "reasons": card["decision"]["reasons"], "epochs": card["epochs"], "minutes": card["minutes"],
            "device": card["device"], "parent": card["parent"],
        },
        "after": score(records, truth),
        "unanswered_before": score(unseen_before, truth), "unanswered_after": score(unseen, truth),
        "seconds": round(time.monotonic() - start, 1),
    }


def table(results: dict) -> str:
    before = results["before"]
    n = before["total"]
    arms = [a for a in ("queue", "random") if a in results["arms"]]
    rows = []

    def row(name, fn):
        rows.append((name, [fn(results["arms"][a]) for a in arms]))

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    row("corrections asked for", lambda a: len(a["answers"]["answered"]) + len(a["answers"]["unanswerable"]))
    row("  answered (fixed / already right)", lambda a: f"{len(a['answers']['answered'])} "
        f"({a['answers']['fixed']} / {a['answers']['accepted']})")
    row("  asked but unanswerable", lambda a: len(a["answers"]["unanswerable"]))
    row("  answers trained on", lambda a: a["trained_on"])
    row("frames selected", lambda a: f"{a['selection']['frames']} ({pct(a['selection']['share_of_frames'])} of {n})")
    row("error recall", lambda a: pct(a["selection"]["error_recall"]))
    row("precision (selected not right)", lambda a: pct(a["selection"]["precision"]))
    row("accuracy before", lambda a: f"{before['right']}/{n} {pct(before['accuracy'])}")
    row("accuracy after", lambda a: f"{a['after']['right']}/{n} {pct(a['after']['accuracy'])}")
    row("wrong-accepted before", lambda a: before["wrong_accepted"])
    row("wrong-accepted after", lambda a: a["after"]["wrong_accepted"])
    row("held before / after", lambda a: f"{before['held']} / {a['after']['held']}")
    row("frames not answered: right before", lambda a: f"{a['unanswered_before']['right']}/{a['unanswered_before']['total']}")
    row("  right after", lambda a: f"{a['unanswered_after']['right']}/{a['unanswered_after']['total']}")
    row("  wrong-accepted before / after", lambda a: f"{a['unanswered_before']['wrong_accepted']} / "
        f"{a['unanswered_after']['wrong_accepted']}")
    row("candidate promoted (temp dir)", lambda a: "yes" if a["candidate"]["promoted_in_temp"] else "no")
    row("retrain epochs / minutes", lambda a: f"{a['candidate']['epochs']} / {a['candidate']['minutes']}")
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}}  " + "  ".join(f"{a:>24}" for a in arms)]
    lines += [f"{name:{width}}  " + "  ".join(f"{str(v):>24}" for v in values) for name, values in rows]
    return "\n".join(lines)


def loop(args, work: Path) -> dict:
    from edge.errors import ModelError
    from edge.models import read_card, resolve_model
    from edge.review.export import export
    from edge.review.items import list_items
    from edge.score import load_truth
    from edge.store import open_db

    model = resolve_model(args.model)
    imgsz = args.imgsz or read_card(model).get("training", {}).get("imgsz")
    args.crop_size = None if args.imgsz else read_card(model).get("training", {}).get("crop_size")
    if not imgsz:
        raise ModelError(f"{model} has no card with a training imgsz; pass --imgsz")
    truth, readings = load_truth(TRUTH), typed_readings(TRUTH)

    frames = run3_under(args.condition, model, work / "frames") if args.condition else RUN3
    db = open_db(work / "loop.db")
    records, queue = read_run3(model, frames, db)
    (work / "first-read.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    before = score(records, truth)
    not_right = set(before["not_right_frames"])
    # What a person sees: the items the queue kept (a full hour thins some as it goes).
    queued = [Path(i.frame).stem for i in list_items(db, "all") if i.status != "thinned"]
    log.info("first read: %d/%d right; %s", before["right"], before["total"], queue.summary())
    results = {
        "model": str(model), "condition": args.condition, "imgsz": imgsz, "minutes": args.minutes, "start": args.start,
        "max_answers": args.max_answers, "answer_order": args.answer_order, "seed": args.seed, "frames": len(records),
        "before": before, "queue_items": len(queued), "queue_summary": queue.summary(), "arms": {},
    }

    answers = answer_queue(db, readings, args.max_answers, args.answer_order)
    if not answers["answered"]:
        raise SystemExit("no queued item could be answered from the truth; nothing to retrain on")
    corrections = work / "corrections"
    report = export(db, corrections, fmt="yolo", status="answered")
    if report.problems:
        log.warning("export problems: %s", "; ".join(report.problems))
    arm = run_arm("queue", corrections, answers, model, work, args, imgsz, truth, frames, records)
    arm["selection"] = selection_figures(queued, not_right, len(records))
    results["arms"]["queue"] = arm

    if not args.skip_random:
        n = len(answers["answered"])
        random_labels = work / "random-labels"
        answers = write_random_labels(random_labels, records, readings, n, args.seed, frames)
        arm = run_arm("random", random_labels, answers, model, work, args, imgsz, truth, frames, records)
        asked = answers["answered"] + [u["frame"] for u in answers["unanswerable"]]
        arm["selection"] = selection_figures(asked, not_right, len(records))
        results["arms"]["random"] = arm
    return results


def main(argv=None) -> int:
    from edge.review.items import ORDERS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model to start from: .onnx, models folder or pointer [default models/current]")
    ap.add_argument("--minutes", type=float, default=4.0, help="retrain budget per arm [default 4]")
    ap.add_argument("--max-answers", type=int, default=40, help="most queued items answered [default 40]")
    ap.add_argument("--skip-random", action="store_true", help="leave out the random-frames baseline")
    ap.add_argument("--work", type=Path, default=None, help="keep intermediate files here (an empty or new folder)")
    ap.add_argument("--out", type=Path, default=None, help="write every figure as JSON here")
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"), help="training device [default auto]")
    ap.add_argument("--from", dest="start", default="current", choices=("current", "scratch"),
                    help="retrain from the model's .pt or from scratch [default current]")
    ap.add_argument("--imgsz", type=int, default=None, help="training size [default the model card's]")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random arm and of training [default 0]")
    ap.add_argument("--answer-order", default="spread", choices=ORDERS,
                    help="which queued items a reviewer answers first, as `segread review list --order` [default spread]")
    ap.add_argument("--condition", default=None,
                    help="read run3 under one of bench/perturb.py's conditions (e.g. night) [default: as captured]")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if not RUN3.is_dir() or not TRUTH.is_file() or not DIGITS.is_dir():
        print(f"needs {RUN3}, {TRUTH} and {DIGITS}", file=sys.stderr)
        return 2
    from edge.errors import SegreadError

    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="review-loop-")
        work = Path(tmp.name)
    else:
        work = args.work.resolve()
        if work.exists() and any(work.iterdir()):
            print(f"--work {work} is not empty; choose an empty or new folder", file=sys.stderr)
            return 2
        work.mkdir(parents=True, exist_ok=True)
    try:
        results = loop(args, work)
    except SegreadError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if tmp is not None:
            tmp.cleanup()
    under = f" under {args.condition!r}" if args.condition else ""
    print(f"\nrun3{under}, {results['frames']} frames; model {Path(results['model']).name}; retrain {args.minutes} min "
          f"per arm from {args.start} at imgsz {results['imgsz']}; queue held {results['queue_items']} item(s)\n")
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
        print(f"\nfigures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
