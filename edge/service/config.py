"""The service's one configuration file: a typed model with defaults, bounds and a description on
every field. Unknown keys and bad values are refused at start, naming the key, on one line.

    [source]
    spec = "0"            # camera index, video file, stream URL or folder
    [model]
    pointer = "models/current"
    database = "/var/lib/segread/segread.db"

Relative paths are resolved against the folder of the configuration file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from edge.errors import ConfigError
from edge.reading import DisplayFormat

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, packaged
    import tomli as tomllib


# The most of anything counted: more frames than a 30 fps camera gives in a year.
MAX_COUNT = 10**9


class Section(BaseModel):
    # A switch is true or false, not "yes" or 1; a number is finite (`inf` would print as JSON no
    # parser reads back).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SourceConfig(Section):
    spec: str = Field("0", min_length=1, description="Camera index ('0') or device (/dev/v4l/by-id/...), video file, rtsp/http URL or folder of images.")
    fps: float | None = Field(None, gt=0, le=240, description="Pace a folder or file at this rate; none = as fast as the reader goes.")
    interval: float = Field(1.0, gt=0, description="Seconds between a folder's frames when they were captured (their timestamps); unused when fps paces the folder, whose frames are stamped 1/fps apart.")
    live: StrictBool | None = Field(
        None, description="Drop frames when the reader falls behind (a camera) instead of waiting (a file); none = a camera (index or device) or URL."
    )

    size: str | None = Field(
        None, description="A webcam's frame size, WIDTHxHEIGHT (1280x720); none = OpenCV's (640x480). A display far from the camera needs more pixels."
    )

    def is_live(self) -> bool:
        if self.live is not None:
            return self.live
        from edge.webcam import is_camera

        return is_camera(self.spec) or "://" in self.spec

    @model_validator(mode="after")
    def _source(self) -> "SourceConfig":
        from edge.capture import malformed_url, shown_source
        from edge.webcam import is_camera, parse_size

        if (why := malformed_url(self.spec)) is not None:  # else every open would fail the same way, an outage for ever
            raise ValueError(why)
        if self.size is not None:
            parse_size(self.size)  # ValueError says what is wanted
            if not is_camera(self.spec):
                raise ValueError(f"size is asked of a webcam (an index or /dev/video*), not of {shown_source(self.spec)}")
        return self

    def frame_size(self) -> tuple[int, int] | None:
        from edge.webcam import parse_size

        return parse_size(self.size) if self.size is not None else None


class ModelConfig(Section):
    pointer: Path = Field(Path("models/current"), description="A model file, a models folder or its `current` pointer file.")
    device: Literal["auto", "cpu", "cuda", "tensorrt"] = Field("auto", description="Execution provider: TensorRT -> CUDA -> CPU when auto.")
    poll_s: float = Field(2.0, ge=0.1, le=3600, description="Seconds between checks of the pointer for a new model.")


class ReaderConfig(Section):
    format: str = Field("time", description="Display format: 'time' (MM:SS) or 'digits:N'.")
    min_conf: float = Field(0.5, ge=0, le=1, description="Least per-digit confidence to accept a reading.")
    crop_size: int | None = Field(None, ge=32, le=1280, description="Input size for the tracked display crop [default: the model's crop size, else its training size]; dynamic-shape models only.")
    crop: StrictBool = Field(True, description="Read a tracked crop around the display after the first find.")
    level: StrictBool = Field(True, description="Read a crop also with its background levelled (glare, dim light); the more confident reading counts. The look the last frame ended on goes first, and a sure reading that follows the session needs no other.")
    second_look: StrictBool = Field(True, description="A failed frame may take its crop's other reading (levelled or as it is) when that fits the session.")
    deskew: StrictBool = Field(True, description="A display whose row of digits tilts 8 degrees or more: try its crop turned level on the first frames, and keep the way that reads better.")
    denoise: StrictBool = Field(True, description="Smooth a crop whose sensor noise is 5% of its grey range or more (a dim room, the camera's gain up) before reading it.")
    stretch: StrictBool = Field(True, description="Stretch a frame whose grey levels span less than half the range (haze, a washed-out or under-exposed camera) over the whole range before reading it.")
    vote_decode: StrictBool = Field(True, description="Read a frame that is the session's expected time with one minutes digit faded (95:35 as 45:35) as that time, where the recent frames light the digit's segments there.")
    confirm_first: StrictBool = Field(True, description="Hold a reading the session cannot check (its first, or the first after a long dark spell) until a sure reading follows it, then log both; a misread never becomes the session's start.")
    blur_hold: float = Field(0.16, ge=0, le=1, description="Hold every reading while the camera is out of focus: the digits' edges, over the last 9 frames read whole, this share of a digit's height or more (a camera in focus: about 0.05; a model reads such digits confidently wrong: run3 blurred to 0.20 took 114 wrong readings of 145); 0: never.")
    scan: StrictBool = Field(True, description="The display may show other quantities in turn with the time (a monitor in SCAN mode): a time track read 5 times moves only to readings that keep the clock for 8 s, so a reset is followed 8 s late, and a quantity that advances slower than a clock is held as such: never logged, and queued for review only for an unsure digit; readings of a track that was never the time are withdrawn from the session, and a crop of a count's fewer places is read as it is, not looked for on the whole frame.")

    @field_validator("blur_hold", mode="before")
    @classmethod
    def _blur_hold(cls, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):  # `true` would read as 1.0: never held
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            raise ValueError(f"a number, the share of a digit's height (0.16; 0: never), not {shown}")
        return value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        DisplayFormat.parse(value)  # ValueError names the accepted forms
        return value


class DedupConfig(Section):
    enabled: StrictBool = Field(True, description="Skip frames that would tell the reader nothing new.")
    min_interval: float = Field(0.25, ge=0, description="Least seconds between read frames.")
    max_interval: float = Field(5.0, gt=0, description="Read a frame at least this often, changed or not.")
    min_change: float = Field(1.0, ge=0, le=100, description="Least change of the display that counts: the largest change of a cell's mean grey level (a 4x16 grid), in percent of the display's grey range.")

    @model_validator(mode="after")
    def _order(self) -> "DedupConfig":
        if self.max_interval < self.min_interval:
            raise ValueError(f"max_interval {self.max_interval:g} is less than min_interval {self.min_interval:g}")
        return self


class QueueConfig(Section):
    """Frames queued for a person's review; maps onto the review stage's selection settings."""

    enabled: StrictBool = Field(True, description="Queue frames the reader was unsure of for review.")
    min_conf: float = Field(0.6, ge=0, le=1, description="A digit below this confidence queues the frame.")
    per_hour: int = Field(120, ge=0, le=MAX_COUNT, description="Most frames queued per hour of frame time; a full hour is thinned so its items stay spread over it.")
    per_session: int = Field(400, ge=0, le=MAX_COUNT, description="Most frames queued per rowing session.")
    random_rate: float = Field(0.02, ge=0, le=1, description="Share of confident frames queued at random.")

    def select_kwargs(self) -> dict:
        """The same settings under the review stage's `SelectConfig` names."""
        return {"min_conf": self.min_conf, "max_per_hour": self.per_hour,
                "max_per_session": self.per_session, "sample_rate": self.random_rate}


class CameraConfig(Section):
    stall_s: float = Field(5.0, gt=0, le=600, description="No usable frame for this long counts as an outage; the source is reopened.")
    open_s: float = Field(30.0, gt=0, le=600, description="A source not open after this long (a network camera that takes the connection and never answers) counts as an outage; the source is reopened.")
    backoff_min: float = Field(0.5, gt=0, description="First wait before reopening a failed source, doubled per failure.")
    backoff_max: float = Field(30.0, gt=0, description="Longest wait between reopen attempts.")
    buffer: int = Field(4, ge=1, le=256, description="Frames held between the capture thread and the reader; a live source drops beyond it.")

    @model_validator(mode="after")
    def _order(self) -> "CameraConfig":
        if self.backoff_max < self.backoff_min:
            raise ValueError(f"backoff_max {self.backoff_max:g} is less than backoff_min {self.backoff_min:g}")
        return self


class LimitsConfig(Section):
    max_db_mb: float = Field(500.0, gt=0, description="Database size (pages in use) above which the oldest reviewed items, then old readings, are pruned.")
    max_queued_frames: int = Field(5000, ge=0, le=MAX_COUNT, description="Most queued frame images kept; the oldest reviewed go first.")
    min_free_mb: float = Field(200.0, ge=0, description="Stop queueing frames (reading and logging go on) when the disk has less free space.")
    check_s: float = Field(30.0, ge=1, description="Seconds between checks of these limits.")
    lock_wait_s: float = Field(10.0, gt=0, le=60, description="Seconds a write waits for another process's lock on the database (a backup, a sqlite3 shell left in a transaction) before reading goes on and what cannot be written is kept in memory, to be written in order once the lock is gone; read at start. Keep it under the unit's WatchdogSec.")
    max_unwritten: int = Field(20_000, ge=100, le=MAX_COUNT, description="Most writes kept in memory while the database is locked (a read frame makes one or two, about 1 KB each); beyond it the oldest frames' readings are dropped, counted in the log.")


class SessionConfig(Section):
    gap_s: float = Field(120.0, gt=0, description="Seconds without an accepted reading after which a new session starts.")
    idle_s: float = Field(90.0, gt=0, description="Seconds of an unchanged display after which the session closes.")
    export: tuple[Literal["csv", "tcx"], ...] = Field(("csv", "tcx"), description="Files written to exports_dir when a session ends.")


class StatusConfig(Section):
    heartbeat_s: float = Field(5.0, ge=0.2, le=300, description="Seconds between updates of the status row `segread status` reads.")
    live_every_s: float = Field(5.0, ge=0.2, description="Seconds between live lines on stderr when it is not a terminal.")


class ServiceConfig(Section):
    source: SourceConfig = Field(default_factory=SourceConfig, description="Where frames come from.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Which model reads them.")
    reader: ReaderConfig = Field(default_factory=ReaderConfig, description="How a frame becomes a reading.")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Which frames are skipped.")
    queue: QueueConfig = Field(default_factory=QueueConfig, description="Which frames are queued for review.")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="Outage detection and reopening.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Bounds on what the service keeps on disk.")
    session: SessionConfig = Field(default_factory=SessionConfig, description="How readings group into sessions.")
    status: StatusConfig = Field(default_factory=StatusConfig, description="Heartbeat and live line.")
    database: Path = Field(Path("segread.db"), description="SQLite session log (WAL).")
    frames_dir: Path = Field(Path("frames"), description="Folder of queued frame images.")
    exports_dir: Path = Field(Path("exports"), description="Folder of session exports (CSV, TCX).")

    @model_validator(mode="after")
    def _queue_limits(self) -> "ServiceConfig":
        if self.queue.enabled and self.limits.max_queued_frames == 0:
            raise ValueError("limits.max_queued_frames is 0 while queue.enabled is true; set queue.enabled = false")
        return self

    def resolved(self, base: Path) -> "ServiceConfig":
        """A copy with relative paths made absolute against `base` (the config file's folder)."""
        def fix(p: Path) -> Path:
            p = p.expanduser()
            return p if p.is_absolute() else (base / p)

        return self.model_copy(update={
            "database": fix(self.database), "frames_dir": fix(self.frames_dir), "exports_dir": fix(self.exports_dir),
            "model": self.model.model_copy(update={"pointer": fix(self.model.pointer)}),
        })


def describe(exc: ValidationError) -> str:
    """A pydantic error as one line that names each key."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{key}: {msg} (got {err['input']!r})" if err["type"] != "value_error" else f"{key}: {msg}")
    return "; ".join(parts)


def parse_config(data: dict, origin: str = "config") -> ServiceConfig:
    try:
        return ServiceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {describe(exc)}") from None


def load_config(path: str | Path) -> ServiceConfig:
    """Read a .toml or .json file, validate it and resolve its relative paths."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode("utf-8-sig"))
        elif path.suffix.lower() == ".json":
            data = json.loads(text.decode("utf-8-sig"))
        else:
            raise ConfigError(f"{path}: use a .toml or .json file, not {path.suffix or 'no suffix'}")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of settings")
    return parse_config(data, str(path)).resolved(path.resolve().parent)
