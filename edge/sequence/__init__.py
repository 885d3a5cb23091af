"""The session so far as evidence: `SequenceCheck` judges each reading against the readings before it."""

from edge.sequence.check import SequenceCheck
from edge.sequence.pace import ROLLOVER_PERIODS

__all__ = ["ROLLOVER_PERIODS", "SequenceCheck"]
