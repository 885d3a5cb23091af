"""`segread retrain`, `segread evaluate` and `segread promote`: plain click commands, loaded by edge/cli.py through
the `segread.commands` entry point group (edge never imports trainer)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path

import click

from edge.errors import SegreadError
from edge.models import DEFAULT_MODELS_DIR, current_name
from trainer.train import MAX_SIZE, MIN_SIZE, TrainSettings


class UserError(click.ClickException):
    """A SegreadError shown as one line, exit code 2."""

    exit_code = 2


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to stdout (Python or C) to stderr, so stdout carries one JSON report."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class Terminated(KeyboardInterrupt):
    """SIGTERM (e.g. systemd stopping segread-retrain.service), raised in the main thread like Ctrl-C,
    so half-written files are removed on the way out."""


@contextlib.contextmanager
def sigterm_raises():
    """While inside, SIGTERM raises Terminated in the main thread instead of killing the process."""
    def raise_terminated(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(fn, *args, models_dir: Path | None = None, **kwargs):
    """Run a command's work with its output on stderr (Ultralytics prints progress on stdout), so
    stdout carries the command's JSON alone; a SegreadError becomes one line and exit code 2. Ctrl-C
    or SIGTERM stops it with one line saying where models/current points (exit 130 or 143)."""
    before = current_name(models_dir)
    try:
        with stdout_to_stderr(), sigterm_raises():
            return fn(*args, **kwargs)
    except SegreadError as exc:
        raise UserError(str(exc)) from None
    except KeyboardInterrupt as exc:
        how, code = ("stopped by SIGTERM", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        after = current_name(models_dir)
        if models_dir is None:
            click.echo(how, err=True)
        elif after == before:
            click.echo(f"{how}: models/current is unchanged ({before or 'none'})", err=True)
        else:
            click.echo(f"{how}: models/current now points at {after}", err=True)
        sys.exit(code)


def _logging() -> None:
    """The trainer's progress (split sizes, crops made, the device, parity, the verdict) on stderr:
    `segread`'s own handler shows warnings only, and a second basicConfig would change nothing. A
    command called without `segread` (bench/gpu/run.sh calls `trainer.cli.retrain`) gets the same
    handler first."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format="segread: %(levelname)s: %(message)s")
    trainer_log = logging.getLogger("trainer")
    if trainer_log.getEffectiveLevel() > logging.INFO:
        trainer_log.setLevel(logging.INFO)


data_option = click.option(
    "--data", "data", multiple=True, required=True, type=click.Path(path_type=Path),
    help="A labeled YOLO folder (images/, labels/); repeat for more.",
)
def _degrade_styles(ctx, param, value: str) -> str:
    from trainer.crops import DEGRADE_STYLES

    kinds = [k.strip() for k in value.split(",")]
    if not kinds or not set(kinds) <= DEGRADE_STYLES:
        raise click.BadParameter(f"{value!r}: one or more of {', '.join(sorted(DEGRADE_STYLES))}, joined by commas")
    return ",".join(kinds)


relabel_option = click.option(
    "--relabel", multiple=True, type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A folder whose labels/<stem>.txt replace the labels of the --data photos of that name "
         "(e.g. a `segread audit --out` folder once checked); the photos keep their side of the split.",
)
sessions_option = click.option(
    "--sessions", type=click.Path(path_type=Path), default=None,
    help="Folder of sessions with truth (<name>.csv beside <name>/ frames) for the reading gate.",
)


@click.command()
@data_option
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Training time budget (overrides --epochs).")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--from", "start", default="current", show_default=True, metavar="current|scratch|PATH.pt",
              help="Fine-tune the current model, train a fresh yolov5n, or fine-tune another project model's .pt "
                   "(e.g. a candidate in models/candidates/).")
@click.option("--imgsz", type=click.IntRange(MIN_SIZE, MAX_SIZE), default=128, show_default=True,
              help="Training size; the reader reads display crops at it too, unless --crop-size says otherwise.")
@click.option("--crop-size", type=click.IntRange(MIN_SIZE, MAX_SIZE), default=None,
              help="Size the reader reads display crops at [default: --imgsz]; e.g. 256 for a model trained at 640 on whole frames.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--lr0", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Fine-tune gently: SGD at this learning rate, no warm-up (e.g. 0.002 from a model that reads well) "
                   "[default: Ultralytics' own choice].")
@click.option("--degrees", type=click.FloatRange(0, 45), default=TrainSettings().augment["degrees"], show_default=True,
              help="Largest random turn of a training image, in degrees: more for cameras mounted crooked.")
@click.option("--models-dir", type=click.Path(path_type=Path), default=DEFAULT_MODELS_DIR, show_default=True)
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs/retrain"), show_default=True)
@click.option("--synthetic", type=int, default=0, help="Add N rendered display crops (rare digits boosted) to train.")
@click.option("--crops", "crops_per_image", type=int, default=2, show_default=True,
              help="Display crops cut from each labeled photo.")
@click.option("--row-crops/--no-row-crops", "row_crops", default=True, show_default=True,
              help="With --crops, a photo of several rows also gives one crop around each of its rows (the "
                   "reader reads one row closer).")
@click.option("--distant", "distant_per_image", type=int, default=0, show_default=True,
              help="Copies of each whole photo shrunk into a blurred frame, its digits 16-40 px at the find size: "
                   "a camera further away than in the labeled photos (whose digits are 42 px or more at 640).")
@click.option("--degrade", "degraded_per_image", type=int, default=0, show_default=True,
              help="Copies of each display crop under glare, little light, heavy JPEG or focus blur (train and val).")
@click.option("--degrade-styles", "degraded_styles", default="narrow", show_default=True, callback=_degrade_styles,
              help="glare: --degrade copies' glare also has hard edges (a lamp's reflection); "
                   "wide: that, a quarter of the light, and haze; focus: blur up to 2.5 times stronger "
                   "(a camera out of focus). Combined with commas: glare,focus.")
@click.option("--corrections", multiple=True, type=click.Path(path_type=Path),
              help="Labeled folder from the review queue (segread review export/import); all of it trains, none of it tests.")
@relabel_option
@click.option("--compare", multiple=True, type=click.Path(path_type=Path),
              help="Another model (e.g. the peer) to evaluate on the same split, for the card.")
@sessions_option
@click.option("--as-read/--no-as-read", "as_read", default=True, show_default=True,
              help="Also score the whole test photos (and their distant copies) as the reader reads them: about "
                   "half a minute a model on two cores, which a timed run may spare.")
@click.option("--finish", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="A run folder whose training finished but whose export, checks or promotion did not: do those.")
@click.option("--name", default=None, callback=lambda ctx, param, value: _model_name(value),
              help="The candidate's name [default: segread-<date>-<time>]; two retrains started in the same "
                   "second need their own.")
def retrain(data, minutes, epochs, device, start, imgsz, crop_size, batch, workers, lr0, degrees, models_dir, runs_dir, synthetic,
            crops_per_image, row_crops, distant_per_image, degraded_per_image, degraded_styles, corrections, relabel, compare, sessions, as_read,
            finish, name):
    """Train a candidate model and promote it if it is not worse than the current one.

    \b
    Example:
      segread retrain --data ../shared/data/digits --minutes 8 --device cuda --from scratch
      segread retrain --data ../shared/data/digits --corrections labeled/ --minutes 4
    """
    from trainer.retrain import RetrainOptions, retrain as run_retrain

    _logging()
    settings = TrainSettings(epochs=epochs, minutes=minutes, imgsz=imgsz, crop_size=crop_size, batch=batch, device=device,
                             workers=workers, lr0=lr0)
    settings.augment["degrees"] = degrees
    options = RetrainOptions(
        data=list(data), models_dir=models_dir, runs_dir=runs_dir, start=start, settings=settings,
        crops_per_image=crops_per_image, row_crops=row_crops, distant_per_image=distant_per_image, degraded_per_image=degraded_per_image,
        degraded_styles=degraded_styles, synthetic=synthetic, sessions=sessions, compare=list(compare),
        corrections=list(corrections), relabel=list(relabel), finish=finish, name=name, as_read=as_read,
    )
    card = _run(run_retrain, options, models_dir=models_dir)
    summary = {name: _brief(report) for name, report in card["metrics"].items()}
    click.echo(json.dumps({"name": card["name"], "decision": card["decision"], "metrics": summary,
                           "parity": card["parity"], "minutes": card["minutes"], "epochs": card["epochs"],
                           "card": str(Path(card["path"]).with_suffix(".json"))}, indent=2))


def _model_name(value: str | None) -> str | None:
    """A name that is one file name in models/ and in a runs folder, and never `current`."""
    if value is not None and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value) or value == "current"):
        raise click.BadParameter(f"{value!r}: letters, digits, '.', '_' and '-', not starting with one of the last three")
    return value


def _brief(report: dict) -> dict:
    """A report without per-frame lists: the card keeps those."""
    brief = {
        part: {k: v for k, v in report[part].items() if k != "per_digit"}
        for part in ("test", "test_at_imgsz", "test_read", "test_crops", "test_distant", "test_distant_read", "test_degraded") if report.get(part)
    }
    for part in ("test_readings", "sessions"):
        if report.get(part):
            brief[part] = {k: v for k, v in report[part].items() if k not in ("sessions", "not_right_frames")}
    return {**brief, "sessions": brief.get("sessions")}


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@data_option
@relabel_option
@sessions_option
@click.option("--imgsz", type=click.IntRange(MIN_SIZE, MAX_SIZE), default=None,
              help="Crop size for MODEL's test crops and session readings [default: the crop size on the model card, else its training size, else 128]; compared models are read at their own.")
@click.option("--work-dir", type=click.Path(path_type=Path), default=Path("runs/evaluate"), show_default=True)
@click.option("--photos", type=click.Choice(["test", "all"]), default="test", show_default=True,
              help="Score the frozen test split of --data, or all its photos: for a set no model trained on "
                   "(photos labeled since, held-back ones).")
@click.option("--compare", multiple=True, type=click.Path(path_type=Path),
              help="Another model (e.g. the peer, or a candidate) scored on the same photos and sessions in the same run; repeat for more.")
def evaluate(model, data, relabel, sessions, imgsz, work_dir, photos, compare):
    """Evaluate MODEL on the frozen test split of --data (and --sessions); print a JSON report.

    \b
    Example:
      segread evaluate models/current --data ../shared/data/digits --sessions ../shared/data/sessions
      segread evaluate models/current --data new-photos/ --photos all --compare ../shared/models/peer-baseline-yolov5n-640.onnx
    """
    from edge.models import resolve_model
    from edge.table import format_table
    from trainer.evaluate import SUMMARY_HEAD, evaluate_on_split, frozen_test, onnx_model, summary_row, trained_on

    _logging()
    log = logging.getLogger("segread.evaluate")

    def work():
        # A bad path, or a model that is not an .onnx, stops before any scoring.
        models = [onnx_model(resolve_model(model))] + [onnx_model(resolve_model(other)) for other in compare]
        warnings = {}
        for path in models if photos == "all" else []:
            seen = trained_on(path, list(data))
            if seen:
                warnings[path] = (f"{path.stem} was trained on photos of {', '.join(map(str, seen))}: "
                                  "these figures are not on unseen photos (--photos test is)")
                log.warning("%s", warnings[path])
        test = frozen_test(list(data), work_dir, list(relabel), photos)
        reports = [evaluate_on_split(path, test, sessions, imgsz if i == 0 else None) for i, path in enumerate(models)]
        return [{**report, "warning": warnings[path]} if path in warnings else report for path, report in zip(models, reports)]

    first, *others = _run(work)
    if others:
        first["compare"] = {}
        for report in others:  # keyed by file stem, or by path where that stem is taken
            stem = Path(report["model"]).stem
            taken = stem == Path(first["model"]).stem or stem in first["compare"]
            first["compare"][report["model"] if taken else stem] = report
    click.echo(json.dumps(first, indent=2))
    # For a person: the figures side by side on stderr (stdout stays the one JSON report).
    rows = [summary_row(Path(first["model"]).stem, first)] + [summary_row(k, r) for k, r in first.get("compare", {}).items()]
    click.echo(f"\n{first['test_images']} photos ({'every photo of --data' if photos == 'all' else 'the frozen test split'}), "
               f"every model scored in this run:\n{format_table(SUMMARY_HEAD, rows)}", err=True)


@click.command()
@click.argument("candidate", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@data_option
@relabel_option
@sessions_option
@click.option("--models-dir", type=click.Path(path_type=Path), default=DEFAULT_MODELS_DIR, show_default=True)
@click.option("--work-dir", type=click.Path(path_type=Path), default=Path("runs/rejudge"), show_default=True)
def promote(candidate, data, relabel, sessions, models_dir, work_dir):
    """Judge a kept-aside CANDIDATE (.onnx with its card and .pt) again against the current model,
    both scored now through the reader as it is, and promote it if the rule now says so.

    Example: segread promote models/candidates/segread-20261201-094413.onnx --data ../shared/data/digits --sessions ../shared/data/sessions
    """
    from trainer.retrain import rejudge

    _logging()
    card = _run(rejudge, candidate, list(data), models_dir, sessions, work_dir, relabel=list(relabel), models_dir=models_dir)
    summary = {name: _brief(report) for name, report in card["metrics"].items()}
    click.echo(json.dumps({"name": card["name"], "decision": card["decision"], "metrics": summary,
                           "parity": card["parity"], "card": str(Path(card["path"]).with_suffix(".json"))}, indent=2))


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@data_option
@relabel_option
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write the disputed photos and their twins here as a YOLO folder, labeled with the reader's boxes, to check.")
@click.option("--overwrite", is_flag=True, help="Write --out even if it is not empty.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="A dispute read below this confidence counts as unsure.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of the table.")
def audit(model, data, relabel, out, overwrite, min_confidence, as_json):
    """Read every single-row photo of --data alone with MODEL and list those it reads otherwise than
    their labels, most confident first: label slips to check before they train or test a model.

    \b
    Example:
      segread audit models/current --data ../shared/data/digits --out audit/
      (check audit/ in a labeling tool, then)
      segread retrain --data ../shared/data/digits --relabel audit/
    """
    from edge.models import resolve_model
    from trainer.audit import audit as run_audit, check_out, write_folder

    _logging()
    inputs = [*data, *relabel]

    def work():
        if out is not None:
            check_out(out, overwrite, inputs)  # before the photos are read, not after
        report = run_audit(resolve_model(model), list(data), list(relabel), min_confidence=min_confidence)
        written = write_folder(report, out, overwrite, inputs) if out is not None else None
        return report, written

    report, written = _run(work)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for f in report.disputed:
            places = ", ".join(map(str, f.places)) or "-"
            click.echo(f"{f.image}  [{f.side}]  labeled {f.labeled}, read {f.read} (confidence {f.confidence:.2f}; place {places})")
        sides = ", ".join(f"{n} {s}" for s, n in report.as_dict()["disputed_by_side"].items())
        click.echo(f"{report.photos} single-row photos read: {report.agreed} agree with their labels, "
                   f"{len(report.disputed)} disputed ({sides}), {report.unsure} held; "
                   f"{report.multi_row} of several rows left out")
    if written is not None:
        click.echo(f"wrote {written} photo(s) with the reader's labels to {out}: check them, then pass --relabel {out}", err=True)
