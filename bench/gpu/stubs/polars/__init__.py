"""A stand-in for polars on the GPU machine, whose image lacks it (the wheel is too big to carry).

Ultralytics' trainer only calls `polars.read_csv(data).to_dict(as_series=False)` to read back its
own results.csv; plots, which use more of polars, are off in segread's training settings.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

__version__ = "0.0-segread-stub"


def _value(text: str):
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text or None


class DataFrame:
    def __init__(self, columns: dict[str, list]):
        self._columns = columns

    def to_dict(self, as_series: bool = True) -> dict[str, list]:
        return {name: list(values) for name, values in self._columns.items()}


def read_csv(source, **_ignored) -> DataFrame:
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    rows = [row for row in csv.reader(io.StringIO(data.decode())) if row]
    if not rows:
        return DataFrame({})
    header = [name.strip() for name in rows[0]]
    return DataFrame({name: [_value(row[i]) if i < len(row) else None for row in rows[1:]] for i, name in enumerate(header)})
