"""The retrain end to end on a tiny real set, and what a user sees when it cannot run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.errors import OutputError
from edge.models import set_current
from tests.conftest import tiny_set
from trainer import retrain as retrain_module
from trainer.cli import promote as promote_cli
from trainer.cli import retrain
from trainer.dataset import gather, source_id
from trainer.retrain import RetrainOptions
from trainer.split import side
from trainer.train import TrainSettings


def current_m0_and_a_tiny_set(tmp_path: Path) -> tuple[Path, Path]:
    """A models folder whose current model is a placeholder `m0` (never loaded: these retrains stop
    before training), and a tiny labeled set."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "m0.onnx").write_bytes(b"onnx")
    set_current(models, "m0")
    return models, tiny_set(tmp_path / "set", {"train": 3, "val": 1, "test": 1})


def test_missing_folder_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(retrain, ["--data", str(tmp_path / "nowhere"), "--models-dir", str(tmp_path / "m"), "--runs-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "labeled folder not found" in result.output and "Traceback" not in result.output


def test_no_room_for_outputs_stops_before_training_and_leaves_current_untouched(tmp_path, monkeypatch):
    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "train", lambda *a, **k: pytest.fail("trained without room for its outputs"))

    # A runs folder that cannot be made (its parent is a file): one line, exit 2.
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(retrain, ["--data", str(data), "--models-dir", str(models),
                                          "--runs-dir", str(tmp_path / "file" / "runs"), "--from", "scratch"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().endswith("Not a directory") and result.output.count("\n") == 1

    # A disk with less free space than a retrain needs (this disk, asked for more than it has).
    options = RetrainOptions([data], models, tmp_path / "runs", start="scratch", min_free_mb=2**40)
    with pytest.raises(OutputError, match=r"MB free in .*runs.*; retrain needs"):
        retrain_module.retrain(options)
    assert (models / "current").read_text() == "m0\n"
    assert sorted(p.name for p in models.iterdir()) == ["current", "m0.onnx"]


def test_a_name_that_is_taken_or_not_a_file_name_is_refused_before_training(tmp_path, monkeypatch):
    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "train", lambda *a, **k: pytest.fail("trained under a name it cannot use"))
    args = ["--data", str(data), "--models-dir", str(models), "--runs-dir", str(tmp_path / "runs"), "--from", "scratch"]

    result = CliRunner().invoke(retrain, [*args, "--name", "m0"])  # the current model's files stay its own
    assert result.exit_code == 2 and "a model or run named m0 exists already" in result.output
    for bad in ("current", "../m1", ".hidden"):
        result = CliRunner().invoke(retrain, [*args, "--name", bad])
        assert result.exit_code == 2 and "Invalid value for '--name'" in result.output, bad
    assert (models / "m0.onnx").read_bytes() == b"onnx" and (models / "current").read_text() == "m0\n"


def test_interrupted_retrain_leaves_current_untouched(tmp_path, monkeypatch):
    models, data = current_m0_and_a_tiny_set(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(retrain_module, "train", interrupted)
    options = RetrainOptions([data], models, tmp_path / "runs", start="scratch", min_free_mb=1)
    with pytest.raises(KeyboardInterrupt):
        retrain_module.retrain(options)
    assert (models / "current").read_text() == "m0\n"
    assert sorted(p.name for p in models.iterdir()) == ["current", "m0.onnx"]


@pytest.mark.slow
def test_sigterm_mid_training_stops_with_one_line_and_leaves_current_untouched(tmp_path):
    """systemd stopping segread-retrain.service sends SIGTERM: a real process, a real signal."""
    pytest.importorskip("ultralytics")
    import os
    import signal
    import time

    from tests.conftest import ROOT

    models = tmp_path / "models"
    models.mkdir()
    shipped = (ROOT / "models" / "current").read_text().strip()
    for suffix in (".onnx", ".json"):
        shutil.copy(ROOT / "models" / f"{shipped}{suffix}", models)
    set_current(models, shipped)
    before = sorted(p.name for p in models.iterdir())
    data = tiny_set(tmp_path / "set", {"train": 4, "val": 1, "test": 1})
    runs = tmp_path / "runs"
    segread = Path(sys.executable).with_name("segread")
    proc = subprocess.Popen(
        [str(segread), "retrain", "--data", str(data), "--models-dir", str(models), "--runs-dir", str(runs),
         "--from", "scratch", "--epochs", "300", "--imgsz", "32", "--batch", "4", "--workers", "2", "--name", "cut"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "YOLO_OFFLINE": "1"},
        start_new_session=True)
    try:
        results = runs / "cut" / "train" / "results.csv"
        for _ in range(600):  # until an epoch is done: the process is in Ultralytics' training loop
            if results.is_file() or proc.poll() is not None:
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert results.is_file(), "no epoch finished in five minutes"
        os.killpg(proc.pid, signal.SIGTERM)  # as systemd stops a unit: the trainer and its data loaders
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "segread: INFO: split: " in err and "segread: INFO: training " in err  # the trainer's progress shows
    assert err.strip().splitlines()[-1] == f"stopped by SIGTERM: models/current is unchanged ({shipped})"
    assert out == ""  # no report: nothing was judged
    assert (models / "current").read_text() == shipped + "\n"
    assert sorted(p.name for p in models.iterdir()) == before  # no candidate, no half-written file


@pytest.mark.slow
def test_retrain_trains_exports_checks_parity_and_files_a_card(tmp_path, caplog):
    pytest.importorskip("ultralytics")
    import logging

    from edge.detect import OnnxDetector

    caplog.set_level(logging.INFO, logger="trainer")

    data = tiny_set(tmp_path / "set", {"train": 8, "val": 2, "test": 2})
    models = tmp_path / "models"
    options = RetrainOptions(
        [data], models, tmp_path / "runs", start="current", crops_per_image=1, degraded_per_image=1, degraded_styles="wide", parity_conf=0.001,
        min_free_mb=1, settings=TrainSettings(epochs=2, imgsz=64, crop_size=96, batch=8, workers=0, device="cpu", lr0=0.005),
        as_read=False,  # segread retrain --no-as-read
    )
    options.settings.augment["degrees"] = 12.0  # segread retrain --degrees 12

    card = retrain_module.retrain(options)

    # Two epochs find no digits: the first model's floor keeps it aside, models/current is not made.
    assert not card["decision"]["promoted"] and "floor" in card["decision"]["reasons"][0]
    assert not (models / "current").exists()
    folder = models / "candidates"
    # The last line says what became of it, where it is and why, as the journal shows it.
    assert caplog.records[-1].getMessage() == (f"{card['name']} kept aside ({folder / card['name']}.json); "
                                               f"{card['decision']['reasons'][0]}")
    assert json.loads((folder / f"{card['name']}.json").read_text())["name"] == card["name"]
    assert (folder / f"{card['name']}.pt").is_file()
    split_sizes = card["data"]["split"]
    assert {k: split_sizes[k] for k in ("train", "val", "test", "train_crops", "val_crops")} == {
        "train": 8, "val": 2, "test": 2, "train_crops": 8, "val_crops": 2}
    # Each display crop also trains under glare, little light, heavy JPEG or blur.
    assert (split_sizes["train_degraded"], split_sizes["val_degraded"], card["data"]["degraded_per_crop"]) == (8, 2, 1)
    assert card["data"]["degraded_styles"] == "wide"
    # Photos whose digits would be a few pixels tall at imgsz 64 train only through their crops.
    assert split_sizes["train_photos_used"] <= 8
    assert card["data"]["fingerprint"] and card["parent"] is None and card["device"].startswith("CPU")
    assert card["training"]["augment"]["fliplr"] == 0 and card["training"]["augment"]["flipud"] == 0
    # A gentle fine-tune's rate reaches Ultralytics as asked (its own optimizer choice would ignore it).
    import yaml

    args = yaml.safe_load((Path(card["decision"]["run_dir"]) / "train" / "args.yaml").read_text())
    assert (args["optimizer"], args["lr0"], args["warmup_epochs"], card["training"]["lr0"]) == ("SGD", 0.005, 0, 0.005)
    assert args["degrees"] == card["training"]["augment"]["degrees"] == 12.0 and args["fliplr"] == 0
    assert set(card["metrics"]["candidate"]["test"]["per_digit"]) == set("0123456789")
    parity = card["parity"]
    assert parity["passed"] and parity["boxes"] > 0 and parity["max_box_diff_px"] <= 1.0

    detector = OnnxDetector(folder / f"{card['name']}.onnx", device="cpu", conf_threshold=0.001)
    assert detector.imgsz == (64, 64)
    # The reader reads display crops at the size the trainer was told, and the gate scored them so.
    assert detector.crop_size == card["training"]["crop_size"] == 96
    assert card["metrics"]["candidate"]["test_crops"]["imgsz"] == 96
    image = __import__("cv2").imread(str(gather([data]).items[0].image))
    assert len(detector.detect(image)) > 0  # an untrained model still proposes boxes at conf 0.001

    # The command's stdout is the JSON report alone (Ultralytics' progress goes to stderr), so it pipes.
    segread = Path(sys.executable).with_name("segread")
    result = subprocess.run([str(segread), "evaluate", str(folder / f"{card['name']}.onnx"), "--data", str(data),
                             "--imgsz", "64", "--work-dir", str(tmp_path / "eval")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["test_images"] == 2 and "map50_95" in report["test"] and "map50_95" in report["test_crops"]
    # Each test photo is also read alone by the reader: an untrained model reads none of them right.
    assert report["test_readings"]["total"] == 2 and report["test_readings"]["right"] == 0
    assert card["metrics"]["candidate"]["test_readings"]["total"] == 2
    # Whole photos are scored at the find size and, for a model trained smaller, at its own size.
    assert (report["test"]["imgsz"], report["test_at_imgsz"]["imgsz"]) == (640, 64)
    # And shrunk as a webcam further away sees them, whole, at the find size, in the gate's run too.
    assert report["test_distant"]["imgsz"] == card["metrics"]["candidate"]["test_distant"]["imgsz"] == 640
    # The whole photos and the distant ones as the reader reads them: in evaluate's report, not in a
    # gate told --no-as-read.
    assert (report["test_read"]["images"], report["test_distant_read"]["crop_size"]) == (2, 64)
    assert "test_read" not in card["metrics"]["candidate"] and "test_distant_read" not in card["metrics"]["candidate"]
    # And their display crops degraded, read at the size the crops are (the card's crop size in the gate).
    assert report["test_degraded"]["imgsz"] == report["test_crops"]["imgsz"]
    assert card["metrics"]["candidate"]["test_degraded"]["imgsz"] == 96
    # A model handed over without its card is scored at the sizes its ONNX gives the reader.
    from trainer.evaluate import evaluate_on_split, frozen_test

    bare = shutil.copy(folder / f"{card['name']}.onnx", tmp_path / "bare.onnx")
    report = evaluate_on_split(Path(bare), frozen_test([data], tmp_path / "eval-bare"))
    assert (report["test_at_imgsz"]["imgsz"], report["test_crops"]["imgsz"]) == (64, 96)

    # A retrain that stopped after training is finished from its run folder, without training again.
    run_dir = Path(card["decision"]["run_dir"])
    trained = (run_dir / "train" / "results.csv").stat().st_mtime
    options.finish = run_dir
    again = retrain_module.retrain(options)
    assert again["name"] == card["name"] and again["epochs"] == card["epochs"] == 2
    assert again["training"]["lr0"] == 0.005
    assert (run_dir / "train" / "results.csv").stat().st_mtime == trained

    # Judged again (`segread promote`), the kept-aside candidate is scored anew and its card keeps the first verdict.
    from trainer import promote as promote_module

    cand = folder / f"{card['name']}.onnx"
    kept = retrain_module.rejudge(cand, [data], models, work_dir=tmp_path / "rejudge")
    assert not kept["decision"]["promoted"] and "floor" in kept["decision"]["reasons"][0]
    assert kept["earlier_decisions"][0]["reasons"] == card["decision"]["reasons"]
    assert json.loads(cand.with_suffix(".json").read_text())["decision"]["rejudged"]
    assert kept["parity"]["passed"] and not (models / "current").exists()
    # When the rule passes it, its files move into models/ and models/current points at it.
    promote_module.FIRST_MODEL_FLOOR = 0.0
    try:
        promoted = retrain_module.rejudge(cand, [data], models, work_dir=tmp_path / "rejudge")
    finally:
        promote_module.FIRST_MODEL_FLOOR = 0.05
    assert promoted["decision"]["promoted"] and len(promoted["earlier_decisions"]) == 2
    assert (models / "current").read_text().strip() == card["name"]
    assert {p.suffix for p in models.glob(f"{card['name']}.*")} == {".onnx", ".pt", ".json"}
    assert not list(folder.glob(f"{card['name']}.*"))
    result = CliRunner().invoke(promote_cli, [str(models / f"{card['name']}.onnx"), "--data", str(data), "--models-dir", str(models)])
    assert result.exit_code == 2 and "is the current model already" in result.output


def test_review_corrections_all_train_and_never_reach_the_frozen_test(tmp_path):
    data = tiny_set(tmp_path / "set", {"train": 3, "val": 1, "test": 1})
    # Corrections named like the review queue's exports; several of them hash to val or test.
    # (Photos other than the labeled set's test and val photos: a correction of those is left out.)
    fixes = tiny_set(tmp_path / "fixes-src", {"train": 3, "val": 2, "test": 3})
    for photo in (data / "images").iterdir():
        if side(source_id(photo)) != "train":
            (fixes / "images" / photo.name).unlink()
    corrections = tmp_path / "fixes"
    (corrections / "images").mkdir(parents=True)
    (corrections / "labels").mkdir()
    others = sorted((fixes / "images").iterdir())
    for i, image in enumerate(others):
        shutil.copy(image, corrections / "images" / f"item-{i + 1}.jpg")
        shutil.copy(fixes / "labels" / f"{image.stem}.txt", corrections / "labels" / f"item-{i + 1}.txt")
    options = RetrainOptions([data], tmp_path / "models", tmp_path / "runs", corrections=[corrections],
                             crops_per_image=0, settings=TrainSettings(imgsz=64))
    gathered, sizes, yamls = retrain_module.prepare(options, tmp_path / "run")
    assert sizes["train_corrections"] == len(others) == 6 and sizes["test"] == 1
    assert not gathered.problems
    test_images = {Path(p).name for p in yamls["test_images"]}
    assert not any(name.startswith("item-") for name in test_images)


def test_a_relabeled_test_photo_is_scored_by_its_fixed_label_and_stays_in_the_frozen_test(tmp_path):
    from trainer.evaluate import frozen_test, photo_truth

    data = tiny_set(tmp_path / "set", {"train": 2, "val": 1, "test": 1})
    test_photo = next(p for p in (data / "images").iterdir() if side(source_id(p)) == "test")
    fix = tmp_path / "checked" / "labels"
    fix.mkdir(parents=True)
    label = (data / "labels" / f"{test_photo.stem}.txt").read_text().splitlines()
    first = label[0].split()
    first[0] = str((int(first[0]) + 1) % 10)  # a person corrects one digit of the photo's labels
    (fix / f"{test_photo.stem}.txt").write_text("\n".join([" ".join(first), *label[1:]]) + "\n")

    options = RetrainOptions([data], tmp_path / "models", tmp_path / "runs", relabel=[fix.parent],
                             crops_per_image=0, settings=TrainSettings(imgsz=64))
    gathered, sizes, yamls = retrain_module.prepare(options, tmp_path / "run")
    assert (sizes["train"], sizes["test"]) == (2, 1) and gathered.relabeled == (test_photo.name,)
    [item] = yamls["test_items"]
    assert item.image.name == test_photo.name and item.boxes[0].cls == int(first[0])
    written = (tmp_path / "run" / "data" / "test" / "labels" / f"{test_photo.stem}.txt").read_text()
    assert written.split()[0] == first[0]  # what Ultralytics' val scores against
    test = frozen_test([data], tmp_path / "eval", relabel=[fix.parent])
    assert test.relabeled == (test_photo.name,) and photo_truth(test.items[0]) == photo_truth(item)


def test_retrain_starts_from_current_scratch_or_a_kept_aside_candidate(tmp_path):
    from trainer.retrain import DEFAULT_MODEL, parent_weights

    models = tmp_path / "models"
    (models / "candidates").mkdir(parents=True)
    pt = models / "candidates" / "cand.pt"
    pt.write_bytes(b"weights")
    assert parent_weights(models, "scratch") == (DEFAULT_MODEL, None)
    assert parent_weights(models, str(pt)) == (str(pt), "cand")
    result = CliRunner().invoke(retrain, ["--data", str(tmp_path), "--from", str(tmp_path / "nope.pt"),
                                          "--models-dir", str(models), "--runs-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--from" in result.output and "Traceback" not in result.output


def test_corrections_of_frozen_test_and_val_photos_are_left_out_of_training_and_reported(tmp_path):
    import hashlib

    data = tiny_set(tmp_path / "set", {"train": 3, "val": 1, "test": 2})
    test_photos = sorted(p for p in (data / "images").iterdir() if side(source_id(p)) == "test")
    val_photos = sorted(p for p in (data / "images").iterdir() if side(source_id(p)) == "val")
    # A test photo come back from the review queue under the queue's name, same bytes.
    queue = tmp_path / "queue"
    (queue / "images").mkdir(parents=True)
    (queue / "labels").mkdir()
    shutil.copy(test_photos[0], queue / "images" / "item-1.jpg")
    shutil.copy(data / "labels" / f"{test_photos[0].stem}.txt", queue / "labels" / "item-1.txt")
    # --corrections given the --data folder itself, and the queue's folder.
    options = RetrainOptions([data], tmp_path / "models", tmp_path / "runs", corrections=[data, queue],
                             crops_per_image=0, settings=TrainSettings(imgsz=64))
    gathered, sizes, yamls = retrain_module.prepare(options, tmp_path / "run")

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    trained = {digest(p) for p in (tmp_path / "run" / "data" / "train" / "images" / "train").iterdir()}
    assert not trained & {digest(p) for p in test_photos}  # the frozen test is never trained on
    assert not trained & {digest(p) for p in val_photos}  # nor the photos that pick the best epoch
    assert [Path(p).name for p in yamls["test_images"]] == [p.name for p in test_photos]
    left_out = sorted(p.path.name for p in gathered.problems if "correction left out of training" in p.message)
    assert left_out == sorted([p.name for p in test_photos + val_photos] + ["item-1.jpg"])
    assert (sizes["train_corrections"], sizes["corrections_left_out"]) == (3, 4)


def test_a_failed_retrain_leaves_no_run_folder_and_its_name_free(tmp_path, monkeypatch):
    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "train", lambda *a, **k: pytest.fail("trained with a missing folder"))
    runs = tmp_path / "runs"
    args = ["--data", str(data), "--corrections", str(tmp_path / "nope"), "--models-dir", str(models),
            "--runs-dir", str(runs), "--from", "scratch", "--name", "again"]
    for _ in range(2):  # the second try fails the same way, not as "exists already"
        result = CliRunner().invoke(retrain, args)
        assert result.exit_code == 2, result.output
        assert result.output.strip().endswith(f"--corrections {tmp_path / 'nope'}: labeled folder not found")
        assert not (runs / "again").exists()


def test_a_models_folder_that_cannot_be_written_stops_before_training(tmp_path, monkeypatch):
    from tests.conftest import read_only

    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "train", lambda *a, **k: pytest.fail("trained with nowhere to file the model"))
    with read_only(models):
        result = CliRunner().invoke(retrain, ["--data", str(data), "--models-dir", str(models), "--runs-dir",
                                              str(tmp_path / "runs"), "--from", "scratch", "--name", "ro"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"cannot write in {models}" in result.output
    assert not (tmp_path / "runs" / "ro").exists()
    assert sorted(p.name for p in models.iterdir()) == ["current", "m0.onnx"]


@pytest.mark.parametrize("option, value", [("--minutes", "0"), ("--imgsz", "0"), ("--batch", "0"), ("--epochs", "0")])
def test_a_zero_time_size_or_batch_is_refused(tmp_path, option, value):
    result = CliRunner().invoke(retrain, ["--data", str(tmp_path), option, value, "--models-dir", str(tmp_path / "m"),
                                          "--runs-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output


@pytest.mark.parametrize("setting, value, message", [
    ("minutes", 0, "--minutes 0: must be more than 0"),  # Ultralytics would read it as no time limit
    ("imgsz", 0, "--imgsz 0: must be 32 to 1280"),
    ("batch", 0, "--batch 0: must be 1 or more"),
])
def test_the_library_refuses_them_too_before_any_run_folder(tmp_path, monkeypatch, setting, value, message):
    from edge.errors import ConfigError

    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "train", lambda *a, **k: pytest.fail("trained with a bad setting"))
    settings = TrainSettings(**{setting: value})
    options = RetrainOptions([data], models, tmp_path / "runs", start="scratch", settings=settings, name="bad")
    with pytest.raises(ConfigError, match=f"^{message}$"):
        retrain_module.retrain(options)
    assert not (tmp_path / "runs").exists()


def test_weights_that_are_no_checkpoint_are_one_line_naming_the_file(tmp_path, monkeypatch):
    pytest.importorskip("ultralytics")
    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "train", lambda *a, **k: pytest.fail("trained from junk"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk\n")
    result = CliRunner().invoke(retrain, ["--data", str(data), "--from", str(junk), "--models-dir", str(models),
                                          "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith(f"Error: {junk}: not loadable as YOLO weights") and result.output.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # stopped before any work


def test_finish_refuses_a_run_whose_training_was_interrupted(tmp_path, monkeypatch):
    """SIGTERM at epoch 4 of 300: its weights are no finished model, and --finish says so."""
    torch = pytest.importorskip("torch")
    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "prepare", lambda *a, **k: pytest.fail("prepared a run that cannot finish"))
    train_dir = tmp_path / "runs" / "cut" / "train"
    (train_dir / "weights").mkdir(parents=True)
    (train_dir / "args.yaml").write_text("epochs: 300\nimgsz: 32\n")
    (train_dir / "results.csv").write_text("epoch,time\n" + "".join(f"{e},{e * 9.5}\n" for e in range(1, 5)))
    # What Ultralytics saves after each epoch (0-based); a completed training sets it to -1.
    torch.save({"epoch": 3, "model": None, "optimizer": {}}, train_dir / "weights" / "last.pt")
    shutil.copy(train_dir / "weights" / "last.pt", train_dir / "weights" / "best.pt")
    result = CliRunner().invoke(retrain, ["--data", str(data), "--finish", str(train_dir.parent), "--models-dir", str(models)])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "was interrupted at epoch 4 of 300" in result.output
    assert sorted(p.name for p in models.iterdir()) == ["current", "m0.onnx"] and train_dir.is_dir()

    torch.save({"epoch": -1, "model": None, "optimizer": None}, train_dir / "weights" / "last.pt")
    retrain_module.check_training_ended(train_dir)  # a completed one passes


def test_promote_with_a_card_that_has_no_verdict_stops_before_scoring(tmp_path, monkeypatch):
    from trainer import evaluate as evaluate_module

    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(evaluate_module, "frozen_test", lambda *a, **k: pytest.fail("scored a candidate it cannot judge"))
    folder = models / "candidates"
    folder.mkdir()
    (folder / "c1.onnx").write_bytes(b"onnx")
    (folder / "c1.pt").write_bytes(b"pt")
    (folder / "c1.json").write_text(json.dumps({"name": "c1", "metrics": {"candidate": {}}, "pt": "c1.pt"}))
    result = CliRunner().invoke(promote_cli, [str(folder / "c1.onnx"), "--data", str(data), "--models-dir", str(models)])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "the card lacks decision" in result.output


def test_a_sessions_table_that_cannot_score_stops_before_training(tmp_path, monkeypatch):
    # The gate reads --sessions after the training: a table it cannot score is told first.
    models, data = current_m0_and_a_tiny_set(tmp_path)
    monkeypatch.setattr(retrain_module, "train", lambda *a, **k: pytest.fail("trained for a gate that cannot score"))
    sessions = tmp_path / "sessions"
    (sessions / "s").mkdir(parents=True)
    (sessions / "s.csv").write_text("frame,value\n0,9524\n")
    result = CliRunner().invoke(retrain, ["--data", str(data), "--sessions", str(sessions), "--models-dir", str(models),
                                          "--runs-dir", str(tmp_path / "runs"), "--from", "scratch", "--name", "gate"])
    assert result.exit_code == 2 and "s.csv: no reading column" in result.output
    assert not (tmp_path / "runs" / "gate").exists()


def test_the_trainer_s_progress_shows_when_its_commands_are_called_without_segread():
    # bench/gpu/run.sh calls trainer.cli.retrain directly: no `segread` group configured logging there.
    code = ("import logging; from trainer.cli import _logging; _logging(); "
            "logging.getLogger('trainer.retrain').info('split: 8 train'); logging.getLogger('other').info('not this')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.splitlines() == ["segread: INFO: split: 8 train"], done.stderr
