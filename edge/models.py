"""Where models live: `models/<name>.onnx` with a card `models/<name>.json`, and `models/current`.

`models/current` is a one-line text file naming the promoted model. It is replaced atomically
(`edge.files.write_bytes`: a temporary file, fsync, os.replace), so a running reader that re-reads it never sees a
half-written pointer. A link to a model (`ln -sfn NAME.onnx current`, as people point at a release)
or a copy of one is read as that model.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.errors import ModelError, OutputError
from edge.files import write_bytes

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
POINTER = "current"


def resolve_model(path: str | Path | None = None) -> Path:
    """A model path, a models folder, or a `current` pointer -> the .onnx file to load."""
    if path is None and not DEFAULT_MODELS_DIR.is_dir():
        raise ModelError(
            f"no model given, and no shipped models beside this install ({DEFAULT_MODELS_DIR}): pass --model "
            f"PATH, or install segread from its clone with pip install -e"
        )
    path = Path(path) if path is not None else DEFAULT_MODELS_DIR
    if path.is_dir():
        path = path / POINTER
    if path.name == POINTER and path.is_file():
        if path.is_symlink():
            return path.resolve()  # a link to the model: it is the pointer
        try:
            name = path.read_text().strip()
        except UnicodeDecodeError:
            return path  # no line of text: a copy of the model itself, which loading judges
        if not name:
            raise ModelError(f"{path} is empty; it should name a model in {path.parent}")
        target = path.parent / (name if name.endswith(".onnx") else f"{name}.onnx")
        if not target.is_file():
            raise ModelError(f"{path} names {name!r}, but {target} does not exist")
        return target
    if not path.is_file():
        raise ModelError(f"model not found: {path}")
    return path


def current_name(models_dir: Path | None) -> str | None:
    """The name of the model `models_dir/current` leads to, or None where it leads to none (or no folder is given)."""
    if models_dir is None:
        return None
    try:
        return resolve_model(Path(models_dir) / POINTER).stem
    except (ModelError, OSError):
        return None


def read_card(model_path: Path) -> dict:
    """The card beside a model, or {} when it has none."""
    card = Path(model_path).with_suffix(".json")
    try:
        return json.loads(card.read_text()) if card.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable model card {card}: {exc}") from None


def set_current(models_dir: Path, name: str) -> None:
    """Point `models/current` at `<name>.onnx`, atomically."""
    models_dir = Path(models_dir)
    if not (models_dir / f"{name}.onnx").is_file():
        raise ModelError(f"cannot promote {name}: {models_dir / (name + '.onnx')} does not exist")
    try:
        write_bytes(models_dir / POINTER, f"{name}\n".encode())
    except OSError as exc:  # the old pointer stands
        raise OutputError(f"cannot point {models_dir / POINTER} at {name}: {exc.strerror or exc}") from None
