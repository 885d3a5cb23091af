"""The sessions a gate scores a model on: each truth table is checked when the sessions are found,
before a model is trained or read to be scored on them."""

import pytest

from edge.errors import LabelError
from edge.score import score_session
from trainer.evaluate import find_sessions

HEADER = "frame,reading,alt,mode,note\n"


def test_sessions_are_checked_when_found_and_a_table_of_other_frames_scores_nothing(tmp_path, tiny_onnx):
    import cv2
    import numpy as np

    (tmp_path / "s").mkdir()
    cv2.imwrite(str(tmp_path / "s" / "0.jpg"), np.full((64, 64, 3), 90, np.uint8))
    (tmp_path / "s.csv").write_text("frame,value\n0,1\n")
    with pytest.raises(LabelError, match="no reading column"):
        find_sessions(tmp_path)  # before any model is trained or read to be scored on it
    (tmp_path / "s.csv").write_text(HEADER + "7,9524\n")
    with pytest.raises(LabelError, match="none of its frames is one of"):
        score_session(tiny_onnx, tmp_path / "s", tmp_path / "s.csv")
