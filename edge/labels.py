"""The project's label conventions: the class mapping and YOLO label lines.

Class index -> digit follows `classes.txt` of the shared digits set exactly: index 0 is "1",
1 is "2", ... 8 is "9", 9 is "0". Every exported or imported label uses this mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.errors import LabelError

CLASS_NAMES: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")
DIGIT_TO_CLASS: dict[str, int] = {name: i for i, name in enumerate(CLASS_NAMES)}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class LabelBox:
    """One YOLO label line: class index and a normalised centre box."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float

    @property
    def digit(self) -> str:
        return CLASS_NAMES[self.cls]

    def to_line(self) -> str:
        return f"{self.cls} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"

    def to_xyxy(self, width: int, height: int) -> tuple[float, float, float, float]:
        return (
            (self.cx - self.w / 2) * width,
            (self.cy - self.h / 2) * height,
            (self.cx + self.w / 2) * width,
            (self.cy + self.h / 2) * height,
        )

    @classmethod
    def from_xyxy(cls, class_id: int, xyxy, width: int, height: int) -> "LabelBox":
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
        y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
        return cls(
            class_id,
            (x1 + x2) / 2 / width,
            (y1 + y2) / 2 / height,
            (x2 - x1) / width,
            (y2 - y1) / height,
        )


def parse_label_line(line: str, where: str = "", num_classes: int = len(CLASS_NAMES)) -> LabelBox:
    """Parse one `class cx cy w h` line; raise LabelError naming `where` on any defect."""
    parts = line.split()
    if len(parts) != 5:
        raise LabelError(f"{where}: expected 5 columns 'class cx cy w h', got {len(parts)}")
    try:
        cls_f = float(parts[0])
        values = [float(p) for p in parts[1:]]
    except ValueError:
        raise LabelError(f"{where}: non-numeric value in {line.strip()!r}") from None
    if not cls_f.is_integer() or not 0 <= cls_f < num_classes:  # is_integer: False for nan and inf
        raise LabelError(f"{where}: class {parts[0]} outside 0..{num_classes - 1}")
    cx, cy, w, h = values
    if not all(0.0 <= v <= 1.0 for v in values) or w <= 0 or h <= 0:
        raise LabelError(f"{where}: coordinates must lie in 0-1 with positive size, got {values}")
    return LabelBox(int(cls_f), cx, cy, w, h)


def read_label_file(path: Path, num_classes: int = len(CLASS_NAMES)) -> list[LabelBox]:
    """Read a whole label file; raise LabelError at the first bad line (file and line named)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # Windows tools start files with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{path}: unreadable label file ({exc})") from None
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            boxes.append(parse_label_line(line, f"{path}:{number}", num_classes))
    return boxes


def write_label_file(path: Path, boxes: list[LabelBox]) -> None:
    Path(path).write_text("".join(b.to_line() + "\n" for b in boxes))


def write_classes(folder: Path) -> None:
    """Write `classes.txt` in the shared set's order."""
    (Path(folder) / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n")
