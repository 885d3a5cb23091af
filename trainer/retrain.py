"""The whole retrain: gather -> split -> crops -> train -> export -> parity -> evaluate -> promote.

Everything is built in a run folder; models/ is touched only at the very end (files renamed into
place, then the pointer switched), so an interrupted retrain leaves `models/current` as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import DatasetError, ModelError, OutputError
from edge.files import probe_write
from edge.models import read_card
from trainer import crops, dataset, evaluate, export, promote, split
from trainer.train import DEFAULT_MODEL, TrainResult, TrainSettings, load_model, offline, resolve_device, train

log = logging.getLogger(__name__)

MIN_FREE_MB = 500
JUDGED_CARD = ("metrics", "decision")  # what rejudge() carries over from a card into its earlier verdicts
PARITY_IMAGES = 16


@dataclass
class RetrainOptions:
    data: list[Path]
    models_dir: Path
    runs_dir: Path = Path("runs/retrain")
    start: str = "current"  # "current" | "scratch" | a project model's .pt
    settings: TrainSettings = field(default_factory=TrainSettings)
    crops_per_image: int = 2
    row_crops: bool = True  # and one crop around each row of a photo of several rows (trainer.crops.label_rows)
    distant_per_image: int = 0  # whole photos shrunk as a camera further away sees them
    degraded_per_image: int = 0  # display crops under glare, little light, heavy JPEG, blur
    degraded_styles: str = "narrow"  # "glare": hard-edged glare too; "wide": that, less light and haze (trainer.crops.degraded_style)
    synthetic: int = 0
    corrections: list[Path] = field(default_factory=list)  # review-queue labels: train side only
    relabel: list[Path] = field(default_factory=list)  # checked labels replacing those of labeled photos (trainer.audit)
    sessions: Path | None = None
    as_read: bool = True  # score whole test photos as the reader reads them too (evaluate.photos_as_read)
    finish: Path | None = None  # an interrupted run folder whose training completed: export, check, promote
    compare: list[Path] = field(default_factory=list)
    name: str | None = None
    parity_conf: float = 0.05
    min_free_mb: int = MIN_FREE_MB


def check_space(folder: Path, min_free_mb: int) -> None:
    """Stop before training when the outputs will not fit, or cannot be written there at all (a
    read-only folder would otherwise be found when the model is filed, after the whole training)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free_mb = shutil.disk_usage(folder).free / 2**20
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror or exc}") from None
    try:
        probe_write(folder)
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    if free_mb < min_free_mb:
        raise OutputError(f"only {free_mb:.0f} MB free in {folder}; retrain needs {min_free_mb} MB")


def check_models_dir(models_dir: Path) -> None:
    """check_space for models/ and, where it exists, models/candidates/: a verdict either way is
    filed in one of them, at the very end."""
    check_space(models_dir, 50)
    if (Path(models_dir) / promote.CANDIDATES).is_dir():
        check_space(Path(models_dir) / promote.CANDIDATES, 50)


def parent_weights(models_dir: Path, start: str) -> tuple[str, str | None]:
    """(what to train from, parent model name): the current model's .pt, a fresh yaml, or the .pt
    of another of the project's models (a candidate the gate kept aside)."""
    if start == "scratch":
        return DEFAULT_MODEL, None
    if start != "current":
        pt = Path(start)
        if pt.suffix != ".pt" or not pt.is_file():
            raise DatasetError(f"--from {start}: expected current, scratch or an existing .pt of a project model")
        return str(pt), pt.stem
    current = promote.current_model(models_dir)
    if current is None:
        log.warning("no current model in %s yet: training from scratch", models_dir)
        return DEFAULT_MODEL, None
    pt = current.parent / read_card(current).get("pt", f"{current.stem}.pt")
    if not pt.is_file():
        raise DatasetError(f"--from current: {current.name} has no training weights ({pt} missing); use --from scratch")
    return str(pt), current.stem


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def corrections_to_train(fixes: list[dataset.Item] | tuple[dataset.Item, ...],
                         parts: dict[str, list[dataset.Item]]) -> tuple[list[dataset.Item], list[dataset.Problem]]:
    """(the corrections that may train, a problem for each one left out): a correction of a photo
    on the frozen test side or the val side of `parts` (the same source id, or the same image bytes
    under another name, e.g. --corrections given the --data folder itself) would put that photo into
    training: the test split would then score a model on a photo it learnt, and the val split
    would pick the epoch that learnt it best."""
    held_out = {}  # source id or image digest -> why
    for side, what in (("val", "val photo {} picks the best epoch"), ("test", "frozen test photo {} is never trained on")):
        for item in parts[side]:
            held_out[item.source] = held_out[_digest(item.image)] = what.format(item.image.name)
    kept, left_out = [], []
    for item in fixes:
        why = held_out.get(item.source) or held_out.get(_digest(item.image))
        if why is None:
            kept.append(item)
        else:
            left_out.append(dataset.Problem(item.image, 0, f"correction left out of training: {why}"))
    return kept, left_out


def prepare(options: RetrainOptions, run_dir: Path) -> tuple[dataset.Dataset, dict, dict]:
    """Checked items, split sizes and the materialised yamls {"train", "test"}."""
    gathered = dataset.gather(options.data, relabel=options.relabel)
    dataset.require_trainable(gathered)
    parts = split.split(gathered.items)
    if options.corrections:
        # Frames a reviewer answered are what the product learns from: all of them train, but for
        # corrections of photos held out. The frozen test and val splits stay the labeled photos'
        # own, so they never move as corrections arrive, and are never trained on.
        fixes = dataset.gather(options.corrections, option="--corrections")
        kept, left_out = corrections_to_train(fixes.items, parts)
        for problem in left_out:
            log.warning("left out: %s", problem)
        parts["train"] = parts["train"] + kept
        gathered = dataset.Dataset(gathered.items + tuple(kept), gathered.problems + fixes.problems + tuple(left_out),
                                   gathered.relabeled)
    if not parts["test"]:
        raise DatasetError(f"no photo fell in the frozen test split ({len({i.source for i in gathered.items})} photos); add more")
    sizes = {name: len(items) for name, items in parts.items()}
    if options.corrections:
        sizes["train_corrections"] = len(kept)
        if left_out:
            sizes["corrections_left_out"] = len(left_out)
    if not parts["val"]:
        log.warning("no photo fell in the val split: validating on the train split (test stays frozen)")
        parts["val"] = list(parts["train"])
    for name in ("train", "val"):
        extra = crops.make_crops(parts[name], run_dir / "crops" / name, options.crops_per_image, options.settings.seed,
                                 rows=options.row_crops)
        # The reader feeds the model display crops: a whole photo whose digits would shrink below
        # a readable size at imgsz teaches nothing the crops do not, and costs an image's time.
        kept = [i for i in parts[name] if crops.digit_height_at(i, options.settings.imgsz) >= crops.MIN_DIGIT_PX]
        sizes[f"{name}_photos_used"] = len(kept)
        far = crops.make_distant(parts[name], run_dir / "distant" / name, options.distant_per_image,
                                 options.settings.seed) if options.distant_per_image else []
        worse = crops.make_degraded(extra, run_dir / "degraded" / name, options.degraded_per_image,
                                    options.settings.seed, styles=options.degraded_styles) \
            if options.degraded_per_image else []
        parts[name] = kept + extra + far + worse
        sizes[f"{name}_crops"] = len(extra)
        sizes[f"{name}_row_crops"] = sum(i.image.stem.rsplit(".", 1)[-1].startswith("row") for i in extra)
        if far:
            sizes[f"{name}_distant"] = len(far)
        if worse:
            sizes[f"{name}_degraded"] = len(worse)
    if options.synthetic:
        synth = crops.synthetic_items(run_dir / "synthetic", options.synthetic, options.settings.seed)
        parts["train"] = parts["train"] + synth
        sizes["train_synthetic"] = len(synth)
    parts.update(crops.test_views(parts["test"], run_dir / "test_views"))
    yamls = split.materialise(parts, run_dir / "data")
    return gathered, sizes, {
        **yamls, "test_items": parts["test"], "test_distant_items": parts["test_distant"],
        "test_images": [i.image for i in parts["test"]], "test_crop_images": [i.image for i in parts["test_crops"]],
    }


def parity_images(photos: list, crops: list) -> list:
    """The images the parity check runs on: both ways the reader uses the model, whole frames
    and display crops, half of PARITY_IMAGES each."""
    half = PARITY_IMAGES // 2
    return list(photos[:half]) + list(crops[:half])


def check_training_ended(train_dir: Path) -> None:
    """Stop unless the training in `train_dir` ran to its end. --finish takes a run whose training
    completed and whose export, checks or promotion did not; the weights of a training stopped
    part way (SIGTERM at epoch 4 of 300) are no finished model, and a card would call them one.
    Ultralytics marks the end in the weights: a completed training strips last.pt's optimizer and
    sets its `epoch` to -1; until then, `epoch` is the last epoch saved (from 0)."""
    import torch
    import yaml

    last, args_yaml = train_dir / "weights" / "last.pt", train_dir / "args.yaml"
    if not last.is_file() or not args_yaml.is_file():
        raise DatasetError(f"--finish: {train_dir} holds no finished training (weights/last.pt, args.yaml)")
    offline()  # unpickling the checkpoint imports Ultralytics' model classes
    try:
        epoch = torch.load(last, map_location="cpu", weights_only=False).get("epoch")
    except Exception as exc:  # an unreadable checkpoint: as Ultralytics' own loader would fail
        raise ModelError(f"--finish: {last}: not loadable ({type(exc).__name__})") from None
    if epoch is not None and epoch != -1:
        planned = yaml.safe_load(args_yaml.read_text()).get("epochs")
        raise DatasetError(f"--finish: the training in {train_dir} was interrupted at epoch {int(epoch) + 1} of {planned}; "
                           "start a new retrain")


def finished_training(train_dir: Path, settings: TrainSettings) -> TrainResult:
    """What a completed training left in `train_dir` (weights, args.yaml, results.csv), for a
    retrain that stopped after it; the run's own settings replace `settings`' fields."""
    import yaml

    check_training_ended(train_dir)
    weights = train_dir / "weights"
    best = weights / "best.pt" if (weights / "best.pt").is_file() else weights / "last.pt"
    args = yaml.safe_load((train_dir / "args.yaml").read_text())
    for key in ("epochs", "imgsz", "batch", "workers", "patience", "seed"):
        setattr(settings, key, args[key])
    settings.minutes = round(args["time"] * 60, 2) if args.get("time") else None
    settings.lr0 = args["lr0"] if args.get("optimizer") == "SGD" and args.get("warmup_epochs") == 0 else None
    settings.device = "cpu" if str(args["device"]) == "cpu" else "cuda"
    rows = [line.split(",") for line in (train_dir / "results.csv").read_text().splitlines()[1:] if line.strip()]
    minutes = float(rows[-1][1]) / 60 if rows else 0.0
    device, device_name = resolve_device(settings.device)
    return TrainResult(best, train_dir, device, device_name, len(rows), round(minutes, 2))


@contextlib.contextmanager
def _removed_on_failure(run_dir: Path | None):
    """Remove the run folder this retrain made when it fails before training: it holds only what
    prepare() makes again, and left behind it would refuse the next try under the same --name
    (or the default name of the same second) as "exists already". None: nothing to remove (a
    --finish run folder is never this retrain's to remove)."""
    try:
        yield
    except BaseException:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def retrain(options: RetrainOptions) -> dict:
    """Run a retrain end to end; returns the candidate's card (with the decision in it)."""
    if options.finish is not None:
        run_dir = Path(options.finish)
        name = run_dir.name
    else:
        name = options.name or f"segread-{dt.datetime.now():%Y%m%d-%H%M%S}"
        run_dir = Path(options.runs_dir) / name
        taken = [p for p in (run_dir, Path(options.models_dir) / f"{name}.onnx",
                             Path(options.models_dir) / promote.CANDIDATES / f"{name}.onnx") if p.exists()]
        if taken:
            raise OutputError(f"a model or run named {name} exists already ({taken[0]}); choose another --name")
    settings = options.settings
    settings.check()
    # Before any work: a --finish run whose training did not end, or a bad --from, stops here.
    if options.finish is not None:
        check_training_ended(run_dir / "train")
    if options.sessions is not None:
        evaluate.find_sessions(options.sessions)  # each truth table checked now, not after the training
    settings.model, parent = parent_weights(options.models_dir, options.start)
    if options.finish is None and settings.model.endswith(".pt"):
        load_model(settings.model)
    with _removed_on_failure(run_dir if options.finish is None else None):
        check_space(run_dir, options.min_free_mb)
        check_models_dir(options.models_dir)
        gathered, sizes, yamls = prepare(options, run_dir)
    log.info("split: %s; %d problems left out", sizes, len(gathered.problems))
    if options.finish is not None:
        result = finished_training(run_dir / "train", settings)
    else:
        result = train(yamls["train"], run_dir / "train", settings)

    onnx_path = export.export_onnx(result.best_pt, run_dir / f"{name}.onnx", settings.imgsz, crop_size=settings.crop_size)
    parity = export.parity(result.best_pt, onnx_path, parity_images(yamls["test_images"], yamls["test_crop_images"]),
                           conf=options.parity_conf)

    def scored(model: Path, training: dict) -> dict:
        size = training.get("imgsz", settings.imgsz)
        crop = training.get("crop_size") or (size if training else settings.read_size)
        return evaluate.evaluate(model, yamls, options.sessions, size, crop, test_items=yamls["test_items"],
                                 distant_items=yamls["test_distant_items"], as_read=options.as_read)

    metrics = {"candidate": scored(onnx_path, settings.to_dict())}
    current = promote.current_model(options.models_dir)
    if current is not None:
        metrics["current"] = scored(current, read_card(current).get("training", {}))
    for other in options.compare:
        metrics[Path(other).stem] = scored(Path(other), {})

    promoted, reasons = promote.decide(metrics["candidate"], metrics.get("current"), parity)
    card = promote.make_card(
        name,
        fingerprint=dataset.fingerprint(gathered.items),
        split_sizes=sizes,
        settings=settings.to_dict(),
        device=result.device_name,
        minutes=result.minutes,
        epochs_done=result.epochs_done,
        metrics=metrics,
        parent=parent,
        parity=parity,
        problems=[str(p) for p in gathered.problems],
    )
    card["data"]["folders"] = [str(p) for p in options.data]
    card["data"]["corrections"] = [str(p) for p in options.corrections]
    if options.relabel:
        card["data"]["relabel"] = [str(p) for p in options.relabel]
        card["data"]["relabeled"] = list(gathered.relabeled)
    card["data"]["synthetic"] = options.synthetic
    card["data"]["crops_per_photo"] = options.crops_per_image
    card["data"]["row_crops"] = options.row_crops and options.crops_per_image > 0
    card["data"]["distant_per_photo"] = options.distant_per_image
    card["data"]["degraded_per_crop"] = options.degraded_per_image
    if options.degraded_per_image:
        card["data"]["degraded_styles"] = options.degraded_styles  # cards without the key: narrow
    card["data"]["sessions_gate"] = str(options.sessions) if options.sessions else None  # read for the gate, never trained on
    if options.finish is not None:
        card["finished_from"] = "training completed in an earlier process; export, checks and promotion ran with --finish"
    card["decision"] = {"promoted": promoted, "reasons": reasons, "run_dir": str(run_dir.resolve())}
    card["path"] = str(promote.install(options.models_dir, name, onnx_path, result.best_pt, card, promoted))
    _say_verdict(name, card)
    return card


def _say_verdict(name: str, card: dict) -> None:
    """One line on what became of the candidate and why: where it is, and the gate's reasons."""
    decision = card["decision"]
    where = "promoted: models/current points at it" if decision["promoted"] else \
        f"kept aside ({Path(card['path']).with_suffix('.json')})"
    log.info("%s %s; %s", name, where, "; ".join(decision["reasons"]))


def rejudge(candidate: Path, data: list[Path], models_dir: Path, sessions: Path | None = None,
            work_dir: Path = Path("runs/rejudge"), parity_conf: float = 0.05, relabel: list[Path] | None = None) -> dict:
    """Judge a kept-aside candidate again: it and the current model scored now, in one run, on the
    same frozen test split and sessions, through the reader as it is now. A gate's verdict holds
    for the reader it read through; when the reader changes, a candidate it kept aside may pass.
    Parity is checked again from the candidate's `.pt`. Promoted, its files move from
    `candidates/` into `models/` and the pointer switches last; kept aside, its card records the
    new verdict. Either way the card keeps its earlier verdicts. Returns the card."""
    candidate = Path(candidate)
    card = read_card(candidate)
    if not card or "metrics" not in card:
        raise DatasetError(f"{candidate}: no model card from a retrain beside it ({candidate.with_suffix('.json').name})")
    missing = [key for key in JUDGED_CARD if not isinstance(card.get(key), dict)]
    if missing:  # found before the whole evaluation, not at filing the new verdict
        raise DatasetError(f"{candidate.with_suffix('.json')}: the card lacks {', '.join(missing)}, "
                           "which a retrain's card has; cannot judge it again")
    pt = candidate.parent / card.get("pt", f"{candidate.stem}.pt")
    if not pt.is_file():
        raise DatasetError(f"{candidate.name}: its training weights {pt.name} are missing, so parity cannot be checked")
    current = promote.current_model(models_dir)
    if current is not None and current.resolve() == candidate.resolve():
        raise DatasetError(f"{candidate.name} is the current model already")
    check_space(work_dir, 50)
    check_models_dir(models_dir)
    test = evaluate.frozen_test(list(data), Path(work_dir) / "test", relabel)
    images = parity_images([i.image for i in test.items], [i.image for i in test.crops])
    parity = export.parity(pt, candidate, images, conf=parity_conf)
    metrics = {"candidate": evaluate.evaluate_on_split(candidate, test, sessions)}
    if current is not None:
        metrics["current"] = evaluate.evaluate_on_split(current, test, sessions)
    promoted, reasons = promote.decide(metrics["candidate"], metrics.get("current"), parity)

    earlier = card.get("earlier_decisions", []) + [{**card["decision"], "metrics": card["metrics"], "parity": card.get("parity")}]
    card.update(metrics=metrics, parity=parity, earlier_decisions=earlier)
    card["decision"] = {
        "promoted": promoted, "reasons": reasons, "rejudged": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "against": current.stem if current is not None else None, "sessions_gate": str(sessions) if sessions else None,
    }
    if relabel:
        card["decision"]["relabel"] = [str(p) for p in relabel]
    card.pop("path", None)
    # install copies through a temporary name and renames, so a source may be its own destination.
    card["path"] = str(promote.install(models_dir, candidate.stem, candidate, pt, card, promoted))
    if promoted and candidate.resolve().parent != Path(models_dir).resolve():
        for old in (candidate, pt, candidate.with_suffix(".json")):
            old.unlink(missing_ok=True)
    _say_verdict(candidate.stem, card)
    return card
