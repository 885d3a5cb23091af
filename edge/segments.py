"""The seven segments: which are lit for each character, and what a place shows as it changes.

a=top, b=upper right, c=lower right, d=bottom, e=lower left, f=upper left, g=middle.
"""

from __future__ import annotations

SEGMENTS: dict[str, str] = {
    "0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc",
    "5": "afgcd", "6": "afgedc", "7": "abc", "8": "abcdefg", "9": "abcdfg", " ": "",
}


def shows_step(shown: str, old: str, new: str) -> bool:
    """Whether one digit place may show `shown` while the display changes from `old` to `new`.

    Every place switches at the same instant: the new digit's segments come on at once, and the
    old digit's other segments fade, each at its own pace. So a place shows all of its new
    segments and, of the rest, only some of the old ones: a 3 turning into a 4 shows as a 4 or 9,
    a 6 turning into a 7 as a 7, 0, 8 or 9, but never as a 6.
    """
    lit, on, fading = set(SEGMENTS[shown]), set(SEGMENTS[new]), set(SEGMENTS[old])
    return on <= lit <= on | fading
