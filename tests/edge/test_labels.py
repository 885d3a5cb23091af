"""One YOLO label line: every defect is a LabelError naming the file and line, never a crash."""

import pytest

from edge.errors import LabelError
from edge.labels import parse_label_line


@pytest.mark.parametrize("klass", ["nan", "inf", "-inf", "1.5", "10", "-1"])
def test_a_class_that_is_no_digit_class_is_named(klass):
    with pytest.raises(LabelError, match=rf"^x.txt:3: class {klass} outside 0..9$"):
        parse_label_line(f"{klass} 0.5 0.5 0.1 0.1", "x.txt:3")


@pytest.mark.parametrize("line", ["3 nan 0.5 0.1 0.1", "3 0.5 inf 0.1 0.1", "3 0.5 0.5 0 0.1", "3 1.2 0.5 0.1 0.1"])
def test_coordinates_outside_the_image_or_of_no_size_are_named(line):
    with pytest.raises(LabelError, match="^x.txt:1: coordinates must lie in 0-1"):
        parse_label_line(line, "x.txt:1")


def test_a_good_line_and_a_class_written_as_a_float():
    box = parse_label_line("3.0 0.5 0.4 0.1 0.2", "x.txt:1")
    assert (box.cls, box.cx, box.cy, box.w, box.h) == (3, 0.5, 0.4, 0.1, 0.2)
