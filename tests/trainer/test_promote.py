"""The promotion rule, the card, and models/current switching only at the very end."""

from __future__ import annotations

import json

import pytest

from edge.models import resolve_model
from trainer.promote import decide, install, make_card


def report(map50_95: float, right: int | None = None, wrong: int = 0) -> dict:
    sessions = None if right is None else {"right": right, "wrong_accepted": wrong, "held": 200 - right - wrong, "total": 200}
    return {"test": {"map50": 0.9, "map50_95": map50_95, "per_digit": {}}, "sessions": sessions}


PASSED = {"passed": True, "max_box_diff_px": 0.001, "max_score_diff": 0.0001, "unmatched": 0}


def test_first_model_is_promoted_when_parity_passes_and_it_finds_digits():
    assert decide(report(0.5), None, PASSED)[0]
    assert not decide(report(0.0), None, PASSED)[0]
    promoted, reasons = decide(report(0.5), None, {**PASSED, "passed": False})
    assert not promoted and "parity" in reasons[0]


@pytest.mark.parametrize(
    "candidate, current, promoted, why",
    [
        (report(0.80, 190, 1), report(0.75, 180, 2), True, ">= current"),
        (report(0.75, 180, 2), report(0.75, 180, 2), True, ">= current"),  # not worse is enough
        (report(0.74, 199, 0), report(0.75, 180, 2), False, "mAP50-95 0.7400 < current 0.7500"),
        (report(0.90, 179, 0), report(0.75, 180, 2), False, "right 179 < current 180"),
        (report(0.90, 195, 3), report(0.75, 180, 2), False, "wrong-accepted 3 > current 2"),
        (report(0.80), report(0.75, 180, 2), True, ">= current"),  # no sessions given: test split alone
    ],
)
def test_candidate_replaces_current_only_when_not_worse(candidate, current, promoted, why):
    ok, reasons = decide(candidate, current, PASSED)
    assert ok is promoted
    assert any(why in r for r in reasons)


def test_a_candidate_that_reads_fewer_test_photos_right_is_kept_aside():
    def with_photos(map50_95: float, right: int, wrong: int) -> dict:
        return {**report(map50_95, 190, 1), "test_readings": {"right": right, "wrong_accepted": wrong, "held": 73 - right - wrong, "total": 73}}

    ok, reasons = decide(with_photos(0.85, 50, 2), with_photos(0.75, 58, 2), PASSED)
    assert not ok and reasons == ["test photos read right 50 < current 58"]
    ok, reasons = decide(with_photos(0.85, 60, 3), with_photos(0.75, 58, 2), PASSED)
    assert not ok and reasons == ["test photos read wrong-accepted 3 > current 2"]
    ok, reasons = decide(with_photos(0.85, 60, 2), with_photos(0.75, 58, 2), PASSED)
    assert ok and "test photos read right 60 >= 58" in reasons[0]
    # A current model evaluated before photos were read is compared on the rest.
    assert decide(with_photos(0.85, 10, 9), report(0.75, 180, 2), PASSED)[0]


def test_a_candidate_that_finds_a_far_display_worse_is_kept_aside():
    """Better by a hair on the crops, worse at the find: measured, such a model lost run3 under haze."""
    def with_views(crops: float, distant: float, degraded: float) -> dict:
        return {**report(0.2, 197, 0), "test_crops": {"map50_95": crops}, "test_distant": {"map50_95": distant},
                "test_degraded": {"map50_95": degraded}}

    current = with_views(0.7986, 0.5617, 0.7580)
    ok, reasons = decide(with_views(0.8005, 0.5397, 0.7665), current, PASSED)
    assert not ok and reasons == ["distant test photos (the find) mAP50-95 0.5397 < current 0.5617 - 0.01"]
    ok, reasons = decide(with_views(0.8005, 0.5617, 0.7450), current, PASSED)
    assert not ok and reasons[0].startswith("degraded test crops mAP50-95 0.7450")
    # Within the tolerance, a better crop score and the same readings promote.
    ok, reasons = decide(with_views(0.8005, 0.5557, 0.7500), current, PASSED)
    assert ok and "distant test photos (the find) 0.5557 vs 0.5617" in reasons[0]
    # A current model scored before these views existed is compared on the rest.
    assert decide(with_views(0.8005, 0.40, 0.40), report(0.2, 197, 0) | {"test_crops": {"map50_95": 0.79}}, PASSED)[0]


def card(name: str) -> dict:
    return make_card(
        name,
        fingerprint="ab" * 32,
        split_sizes={"train": 7, "val": 2, "test": 3, "train_crops": 14},
        settings={"model": "yolov5n.yaml", "epochs": 2, "imgsz": 64, "fliplr": 0.0},
        device="CPU (x86_64, 2 cores)",
        minutes=0.4,
        epochs_done=2,
        metrics={"candidate": report(0.5, 10)},
        parent=None,
        parity=PASSED,
        problems=["labels/x.txt: label file without an image"],
    )


def test_card_records_data_training_device_metrics_parent_and_parity():
    c = card("m1")
    assert c["data"] == {"fingerprint": "ab" * 32, "split": {"train": 7, "val": 2, "test": 3, "train_crops": 14},
                         "problems": ["labels/x.txt: label file without an image"]}
    assert c["training"]["fliplr"] == 0.0 and c["device"].startswith("CPU") and c["minutes"] == 0.4
    assert c["metrics"]["candidate"]["test"]["map50_95"] == 0.5
    assert c["parent"] is None and c["parity"]["passed"] and c["pt"] == "m1.pt"
    assert c["created"] and c["host"]


def test_install_promotes_or_keeps_aside(tmp_path):
    models = tmp_path / "models"
    onnx, pt = tmp_path / "run.onnx", tmp_path / "best.pt"
    onnx.write_bytes(b"onnx-1")
    pt.write_bytes(b"pt-1")

    install(models, "m1", onnx, pt, card("m1"), promote=True)
    assert resolve_model(models) == models / "m1.onnx"
    assert json.loads((models / "m1.json").read_text())["name"] == "m1"
    assert (models / "m1.pt").read_bytes() == b"pt-1"

    onnx.write_bytes(b"onnx-2")
    install(models, "m2", onnx, pt, card("m2"), promote=False)
    assert resolve_model(models) == models / "m1.onnx"
    assert (models / "candidates" / "m2.onnx").read_bytes() == b"onnx-2"
    assert (models / "candidates" / "m2.json").is_file()
    assert not [p for p in models.rglob(".*")]  # no temporary file left


@pytest.mark.parametrize("failure", [KeyboardInterrupt, lambda: OSError(28, "No space left on device")])
def test_install_cut_short_mid_copy_or_mid_switch_leaves_the_old_model_and_no_half_file(tmp_path, monkeypatch, failure):
    import os

    from edge.errors import OutputError
    from trainer import promote as promote_module

    models = tmp_path / "models"
    onnx, pt = tmp_path / "run.onnx", tmp_path / "best.pt"
    onnx.write_bytes(b"onnx-1")
    pt.write_bytes(b"pt-1")
    install(models, "m1", onnx, pt, card("m1"), promote=True)
    expected = OutputError if failure is not KeyboardInterrupt else KeyboardInterrupt

    def half_copy(src, dst):  # half the bytes written, then the signal or the full disk
        with open(dst, "wb") as fh:
            fh.write(open(src, "rb").read()[:3])
        raise failure()

    monkeypatch.setattr(promote_module.shutil, "copyfile", half_copy)
    with pytest.raises(expected):
        install(models, "m2", onnx, pt, card("m2"), promote=True)
    monkeypatch.undo()

    real_replace = os.replace

    def cut_at_pointer(src, dst):  # the model's files land, then the pointer switch is cut
        if str(dst).endswith("current"):
            raise failure()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", cut_at_pointer)
    with pytest.raises(expected, match="cannot point .*current at m3: No space" if expected is OutputError else None):
        install(models, "m3", onnx, pt, card("m3"), promote=True)
    monkeypatch.undo()

    assert (models / "current").read_text() == "m1\n"
    assert resolve_model(models).read_bytes() == b"onnx-1"
    assert not [p for p in models.rglob(".*")]  # no temporary file left
