"""Named failures a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class SegreadError(Exception):
    """Base class: a failure with a message fit to show a user as one line."""


class ModelError(SegreadError):
    """The model file is missing, truncated, or not a YOLO digit detector."""


class SourceError(SegreadError):
    """A frame source cannot be opened or stopped delivering frames."""


class StoreError(SegreadError):
    """The session database cannot be opened or written."""


class DatabaseLocked(StoreError):
    """Another process holds the session database's write lock (a backup, a sqlite3 shell): it may be free later."""


class LabelError(SegreadError):
    """A label file or labeled folder is malformed."""


class ConfigError(SegreadError):
    """A configuration file has an unknown key or a bad value."""


class ReviewError(SegreadError):
    """A review action cannot be applied to a queue item."""


class DatasetError(SegreadError):
    """A labeled set is missing, empty, or has too few classes to train on."""


class OutputError(SegreadError):
    """An output folder cannot be written: no permission or no space left."""
