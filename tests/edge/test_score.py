"""A session's truth table: a file that cannot score a reader is a LabelError naming file and line."""

import pytest

from edge.errors import LabelError
from edge.score import load_truth, score_results

HEADER = "frame,reading,alt,mode,note\n"


def table(tmp_path, text: str, name: str = "s.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_a_truth_table_counts_alternatives_any_and_frames_named_with_their_suffix(tmp_path):
    truth = load_truth(table(tmp_path, HEADER + "0,9524,,time,\n1.jpg,9525,9526,time,\n2,*,,time,glare\n"))
    assert truth == {"0": {"9524"}, "1": {"9525", "9526"}, "2": {"*"}}
    records = [{"frame": "0.jpg", "status": "accepted", "reading": "9524"},
               {"frame": "1.jpg", "status": "accepted", "reading": "9526"},
               {"frame": "2.jpg", "status": "held", "reading": None}]
    assert score_results(records, truth).right == 3


@pytest.mark.parametrize("text, message", [
    ("frame,value\n0,9524\n", "s.csv: no reading column"),
    ("name,reading\n0,9524\n", "s.csv: no frame column"),
    (HEADER, "s.csv: no rows"),
    ("", "s.csv: no frame or reading column"),
    (HEADER + "0,9524\n1\n", "s.csv:3: a row needs a frame and its reading"),
    (HEADER + ",9524\n", "s.csv:2: a row needs a frame and its reading"),
])
def test_a_table_that_cannot_score_is_named_with_its_line(tmp_path, text, message):
    with pytest.raises(LabelError, match=message):
        load_truth(table(tmp_path, text))


def test_a_table_with_a_bom_reads_and_one_not_utf8_is_named(tmp_path):
    assert load_truth(table(tmp_path, "\ufeff" + HEADER + "0,9524\n")) == {"0": {"9524"}}
    with pytest.raises(LabelError, match="s.csv: unreadable truth table"):
        load_truth(table(tmp_path, HEADER + "0,95\xe924\n", encoding="latin-1"))
