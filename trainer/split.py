"""A deterministic train/val/test split that stays put as the labeled set grows.

A photo's side is decided by the sha1 of its source id alone, so augmented twins share a side and
adding images never moves old ones. The test side is frozen: it is materialised apart from the
training folder, so no training or early stopping ever sees it. Changing RATIOS would move photos;
don't.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

from edge.errors import OutputError
from edge.labels import CLASS_NAMES, write_label_file
from trainer.dataset import Item

SPLITS = ("train", "val", "test")
RATIOS = (0.70, 0.15, 0.15)


def side(source: str, ratios: tuple[float, float, float] = RATIOS) -> str:
    """'train', 'val' or 'test' for a source id, from the first 8 bytes of its sha1."""
    u = int.from_bytes(hashlib.sha1(source.encode("utf-8")).digest()[:8], "big") / 2**64
    if u < ratios[0]:
        return "train"
    return "val" if u < ratios[0] + ratios[1] else "test"


def split(items: list[Item] | tuple[Item, ...]) -> dict[str, list[Item]]:
    parts: dict[str, list[Item]] = {name: [] for name in SPLITS}
    for item in items:
        parts[side(item.source)].append(item)
    return parts


def write_items(items: list[Item], images_dir: Path, labels_dir: Path, link: bool = True) -> None:
    """Place images (symlinked, or copied where links fail) and freshly written, checked labels."""
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for item in items:
        name = item.image.name
        if name in used:  # the same file name in two --data folders
            tag = hashlib.sha1(str(item.image.resolve()).encode()).hexdigest()[:8]
            name = f"{item.image.stem}.{tag}{item.image.suffix}"
        used.add(name)
        target = images_dir / name
        try:
            if link:
                try:
                    os.symlink(item.image.resolve(), target)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise
                    shutil.copyfile(item.image, target)
            else:
                shutil.copyfile(item.image, target)
            write_label_file(labels_dir / f"{Path(name).stem}.txt", list(item.boxes))
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def write_data_yaml(path: Path, root: Path, train: str, val: str) -> Path:
    names = "".join(f"  {i}: '{n}'\n" for i, n in enumerate(CLASS_NAMES))
    path.write_text(f"path: {root.resolve()}\ntrain: {train}\nval: {val}\nnames:\n{names}")
    return path


def materialise(parts: dict[str, list[Item]], out_dir: Path, link: bool = True) -> dict[str, Path]:
    """Write an Ultralytics training folder (train + val) and a separate frozen test folder.

    Returns {"train": <out>/train/data.yaml, "test": <out>/test/data.yaml}; the test yaml lists
    the test images as its `val` (Ultralytics requires a `train` key, it points at the same images).
    """
    out_dir = Path(out_dir)
    train_root, test_root = out_dir / "train", out_dir / "test"
    for root in (train_root, test_root):  # a rerun starts clean: no stale image stays in a split
        shutil.rmtree(root, ignore_errors=True)
    for name in ("train", "val"):
        write_items(parts.get(name, []), train_root / "images" / name, train_root / "labels" / name, link)
    write_items(parts.get("test", []), test_root / "images", test_root / "labels", link)
    yamls = {
        "train": write_data_yaml(train_root / "data.yaml", train_root, "images/train", "images/val"),
        "test": write_data_yaml(test_root / "data.yaml", test_root, "images", "images"),
    }
    for name in ("test_crops", "test_distant", "test_degraded"):  # the frozen test photos as the reader also sees them
        if parts.get(name):
            root = out_dir / name
            shutil.rmtree(root, ignore_errors=True)
            write_items(parts[name], root / "images", root / "labels", link)
            yamls[name] = write_data_yaml(root / "data.yaml", root, "images", "images")
    return yamls
