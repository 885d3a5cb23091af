"""The split: stable as the set grows, twins on one side, test kept apart from training."""

from __future__ import annotations

from pathlib import Path

import yaml

from edge.labels import CLASS_NAMES, LabelBox
from trainer.dataset import Item, source_id
from trainer.split import materialise, side, split


def item(name: str, folder: Path = Path("/data/images")) -> Item:
    return Item(folder / name, (LabelBox(0, 0.5, 0.5, 0.1, 0.2),), source_id(name), 64, 48)


def test_adding_images_never_moves_old_ones():
    first = [item(f"photo-{i}_jpg.rf.{i:04x}.jpg") for i in range(300)]
    before = {i.image.name: name for name, part in split(first).items() for i in part}
    grown = first + [item(f"new-{i}.jpg") for i in range(700)]
    after = {i.image.name: name for name, part in split(grown).items() for i in part}
    assert all(after[name] == before[name] for name in before)
    shares = {name: sum(1 for s in after.values() if s == name) / len(after) for name in ("train", "val", "test")}
    assert 0.62 < shares["train"] < 0.78 and 0.09 < shares["val"] < 0.21 and 0.09 < shares["test"] < 0.21


def test_augmented_twins_land_on_the_same_side():
    items = [item(f"take-{i}-jpg_jpg.rf.{h}.jpg") for i in range(200) for h in ("aa11", "bb22", "cc33")]
    sides: dict[str, set[str]] = {}
    for name, part in split(items).items():
        for i in part:
            sides.setdefault(i.source, set()).add(name)
    assert len(sides) == 200 and all(len(s) == 1 for s in sides.values())


def test_side_is_a_pure_function_of_the_source():
    assert side("digittake-100-jpg") == side("digittake-100-jpg")
    assert {side(f"s{i}") for i in range(50)} == {"train", "val", "test"}


def test_materialise_keeps_test_apart_and_names_in_project_order(tmp_path):
    images = tmp_path / "src"
    images.mkdir()
    items = []
    for i in range(40):
        (images / f"p{i}.jpg").write_bytes(b"jpeg")
        items.append(item(f"p{i}.jpg", images))
    parts = split(items)
    yamls = materialise(parts, tmp_path / "out")

    train = yaml.safe_load(yamls["train"].read_text())
    assert [train["names"][k] for k in sorted(train["names"])] == list(CLASS_NAMES)
    root = Path(train["path"])
    assert "test" not in train
    assert sorted(p.name for p in (root / train["val"]).iterdir()) == sorted(i.image.name for i in parts["val"])
    test = yaml.safe_load(yamls["test"].read_text())
    test_images = sorted(p.name for p in (Path(test["path"]) / test["val"]).iterdir())
    assert test_images == sorted(i.image.name for i in parts["test"])
    assert not set(test_images) & {p.name for p in (root / train["train"]).iterdir()}
    label = (Path(test["path"]) / "labels" / f"{Path(test_images[0]).stem}.txt").read_text()
    assert label == "0 0.500000 0.500000 0.100000 0.200000\n"
