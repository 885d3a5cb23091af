"""The benches' plain-text table: the first column left-aligned, the others right-aligned."""

from __future__ import annotations


def print_table(head: list[str], rows: list[list[str]]) -> None:
    lines = [head, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
