"""The session so far as evidence: `SequenceCheck` judges each reading against the readings before it."""

from edge.sequence.check import ROLLOVER_PERIODS, SequenceCheck

__all__ = ["ROLLOVER_PERIODS", "SequenceCheck"]
