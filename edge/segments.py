"""The seven segments: which are lit for each character, and what two digits look like overlaid.

a=top, b=upper right, c=lower right, d=bottom, e=lower left, f=upper left, g=middle.
"""

from __future__ import annotations

SEGMENTS: dict[str, str] = {
    "0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc",
    "5": "afgcd", "6": "afgedc", "7": "abc", "8": "abcdefg", "9": "abcdfg", " ": "",
}
_BY_SHAPE = {frozenset(segs): ch for ch, segs in SEGMENTS.items() if ch != " "}


def overlay(a: str, b: str) -> str | None:
    """The digit that shows when digits a and b are lit together (3 over 4 is 9), if any."""
    return _BY_SHAPE.get(frozenset(SEGMENTS[a]) | frozenset(SEGMENTS[b]))


def shows_step(shown: str, old: str, new: str) -> bool:
    """Whether one digit place may show `shown` while the display changes from `old` to `new`.

    Every place switches at the same instant and new segments come on at once while old ones
    fade slowly, so a place shows its new digit, or its new digit with the old one over it.
    """
    return shown == new or shown == overlay(old, new)
