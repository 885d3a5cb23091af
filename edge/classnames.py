"""The class names a labeled source carries: which digit each class id in its label files means.

segread's exports write the project's order (index 0 is "1", ... 9 is "0") into `classes.txt` and
`data.yaml`, but a labeling tool writes the names its project was set up with: a CVAT task made
with the labels 0..9 exports `names: {0: '0', ...}`, and its label line `0 ...` is a zero. The
review import and the trainer's labeled folders map class ids through the source's own names; a
source without a names file is taken to use the project's order. Names that are not the ten digits are refused, since no mapping would be right.

Only the `names` of a data.yaml are read, by a small reader of the forms Ultralytics and CVAT
write (block mapping, block list, flow list or mapping): `edge` does not depend on PyYAML.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge.errors import LabelError
from edge.labels import CLASS_NAMES

# One name a line: classes.txt (segread, LabelImg, Ultralytics' converters), obj.names (CVAT's YOLO 1.1).
LINE_FILES = ("classes.txt", "obj.names")
YAML_FILES = ("data.yaml", "data.yml")
DIGITS = sorted("0123456789")
TOP_KEY = re.compile(r"^names\s*:(.*)$")


def strip_comment(text: str) -> str:
    """`text` without a YAML comment (a `#` after a space, outside quotes), stripped."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].strip()
    return text.strip()


def unquote(text: str) -> str:
    """A YAML scalar without its comment and quotes: `'1'  # one` -> 1."""
    text = strip_comment(text)
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        return text[1:-1]
    return text


def split_flow(body: str) -> list[str]:
    """The items of a one-line `[a, b]` or `{0: a, 1: b}`, commas inside quotes kept."""
    items, current, quote = [], "", None
    for ch in body:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            items.append(current)
            current = ""
            continue
        current += ch
    items.append(current)
    return [i for i in items if i.strip()]


def from_pairs(pairs: list[tuple[str, str]], where: str) -> list[str]:
    """Names of a `{id: name}` mapping in id order; the ids must be 0..n-1."""
    try:
        by_id = {int(unquote(k)): unquote(v) for k, v in pairs}
    except ValueError:
        raise LabelError(f"{where}: names must be keyed by class id 0, 1, ...") from None
    if sorted(by_id) != list(range(len(by_id))):
        raise LabelError(f"{where}: class ids {sorted(by_id)} are not 0..{len(by_id) - 1}")
    return [by_id[i] for i in range(len(by_id))]


def yaml_names(text: str, where: str) -> list[str] | None:
    """The `names` of a data.yaml, or None when it has none."""
    lines = text.splitlines()
    for n, line in enumerate(lines):
        m = TOP_KEY.match(line)
        if m:
            break
    else:
        return None
    rest = strip_comment(m.group(1))
    if rest.startswith("[") and rest.endswith("]"):
        return [unquote(i) for i in split_flow(rest[1:-1])]
    if rest.startswith("{") and rest.endswith("}"):
        return from_pairs([tuple(i.split(":", 1)) if ":" in i else (i, "") for i in split_flow(rest[1:-1])], where)
    if rest:
        raise LabelError(f"{where}: cannot read `names: {rest}`; expected a list or a mapping of class id to name")
    block = []
    for line in lines[n + 1:]:
        if not strip_comment(line):
            continue
        if not line[:1].isspace() and not line.startswith("-"):  # YAML lets a list sit at its key's indent
            break
        block.append(strip_comment(line))
    if block and all(b.startswith("- ") or b == "-" for b in block):
        return [unquote(b[1:]) for b in block]
    if block and all(":" in b for b in block):
        return from_pairs([tuple(b.split(":", 1)) for b in block], where)
    raise LabelError(f"{where}: cannot read the class names under `names:`")


def read_names(path: Path, where: str) -> list[str] | None:
    """The class names a names file lists in class id order (None: a data.yaml without names)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{where}: unreadable names file ({exc})") from None
    if path.name in YAML_FILES:
        return yaml_names(text, where)
    return [line.strip() for line in text.splitlines() if line.strip()]


def names_files(folder: Path) -> list[Path]:
    """Every names file under `folder` (LabelImg keeps classes.txt beside the label files)."""
    return sorted(p for name in LINE_FILES + YAML_FILES for p in Path(folder).rglob(name) if p.is_file())


def class_digits(folder: Path, shown: str | None = None) -> tuple[str, ...]:
    """The digit each class id means in the YOLO labels under `folder`: from its names files, which
    must agree and list the ten digits; the project's order when it has none. `shown` names the
    source in messages (a zip's name rather than the folder it was unpacked into)."""
    folder, shown = Path(folder), shown or str(folder)
    found: dict[str, tuple[str, ...]] = {}
    for path in names_files(folder):
        where = f"{shown}/{path.relative_to(folder).as_posix()}"
        names = read_names(path, where)
        if names is None:
            continue
        if sorted(names) != DIGITS:
            raise LabelError(
                f"{where}: class names {names} are not the ten digits 0-9 (each once, any order); nothing imported"
            )
        found[where] = tuple(names)
    if len(set(found.values())) > 1:
        listed = "; ".join(f"{where}: {' '.join(names)}" for where, names in found.items())
        raise LabelError(f"the names files disagree on the class order ({listed}); nothing imported")
    return next(iter(found.values()), CLASS_NAMES)
