"""The benches' plain-text table (edge.table's), printed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's edge/, as every bench reads it
from edge.table import format_table  # noqa: E402


def print_table(head: list[str], rows: list[list[str]]) -> None:
    print(format_table(head, rows))
