"""Frame sources: a webcam index, a video file, an RTSP/HTTP URL, a folder replayed as a camera, or one image.

Every source yields `Frame`s carrying the image, a name (the file name for a folder, the frame
index otherwise) and a timestamp in seconds since the source started.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from edge.errors import SourceError
from edge.labels import IMAGE_SUFFIXES
from edge.webcam import capture_target, is_camera, is_device, not_a_camera

log = logging.getLogger(__name__)


# Query parameters that carry a login: a Foscam-style `snapshot.cgi?user=admin&pwd=...`, a token.
_SECRET_KEYS = re.compile(r"(?i)^(pwd|pass|passwd|password|key|token|auth|secret|sig|signature|access_token)$")
# A user or password typed with a '/', '?' or '#' in it: the host part ends there, and the rest of
# the login, up to its '@', is taken for a path: `rtsp://ad/min:secret@cam/live`.
_LOGIN_IN_PATH = re.compile(r"^[^/?#@]*[/?#][^@]*:[^@]*@")


def shown_source(spec: str) -> str:
    """A source as segread says it and logs it: a URL's password (`rtsp://user:pass@cam/`) masked,
    so it is in no message, session row, status row or export; also a login typed with a `/`, `?`
    or `#` in it, which ends the URL's host part early (`malformed_url`), and the value of a query
    parameter that carries one (`?pwd=...`)."""
    if "://" not in spec:
        return spec
    scheme, rest = spec.split("://", 1)
    try:
        parts = urllib.parse.urlsplit(spec)
    except ValueError:  # no URL at all (an unclosed IPv6 bracket): mask all that may be a login
        return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else spec
    if _early_end(spec):
        user, colon, after = rest.partition(":")
        if not re.search(r"[/?#]", user):
            return f"{scheme}://{user}:***@{after.rpartition('@')[2]}"
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    if parts.password is not None:
        parts = parts._replace(netloc=f"{parts.username}:***@{parts.netloc.rsplit('@', 1)[1]}")
    if parts.query:
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if any(_SECRET_KEYS.match(k) for k, _ in pairs):
            parts = parts._replace(query="&".join(f"{k}=***" if _SECRET_KEYS.match(k) else f"{k}={v}" for k, v in pairs))
    return urllib.parse.urlunsplit(parts)


def _early_end(spec: str) -> bool:
    """True for a URL whose `user:password@` has a `/`, `?` or `#` in it as typed:
    `rtsp://admin:ab/cd@cam/live` parses as host `admin`, port `ab`, the rest of the password a
    path; `rtsp://ad/min:pw@cam/live` as host `ad`, the rest a path."""
    parts = urllib.parse.urlsplit(spec)
    rest = spec.split("://", 1)[1]
    if "@" in parts.netloc or "@" not in rest:
        return False
    try:
        parts.port
    except ValueError:  # the port is the password's head: the host part ended before the '@'
        return ":" in parts.netloc
    return _LOGIN_IN_PATH.match(rest) is not None


def malformed_url(spec: str) -> str | None:
    """Why a URL cannot name a camera as written (a login that ends its host part early, a port
    that is no number, no URL at all), or None. Said before any request, as the camera would get
    the login's tail as a path and OpenCV says only that it cannot open it."""
    if "://" not in spec:
        return None
    try:
        parts = urllib.parse.urlsplit(spec)
    except ValueError as exc:
        return f"cannot open {shown_source(spec)}: not a URL ({exc})"
    if _early_end(spec):
        return (f"cannot open {shown_source(spec)}: its user or password holds a '/', '?' or '#', which ends a URL's "
                "host part; write them as %2F, %3F and %23")
    try:
        parts.port
    except ValueError:
        return f"cannot open {shown_source(spec)}: its port is not a number from 0 to 65535"
    if not parts.hostname:
        return f"cannot open {shown_source(spec)}: it names no host"
    return None


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own log lines off stderr, where they would stand beside segread's
    one-line error for the same failure: for a camera index that does not exist, OpenCV logs a
    warning per backend it tried, a multi-line VIDEOIO/FFMPEG block and an obsensor error; FFmpeg
    complains of a file it cannot open ("moov atom not found"). segread says what failed itself.
    Either stays as the user set it (OPENCV_LOG_LEVEL, OPENCV_FFMPEG_LOGLEVEL). Called where a
    source is opened, not at import: the level is the process's, and importing segread sets nothing.
    libjpeg's "Premature end of JPEG file" is printed by libjpeg itself, past OpenCV's log: a
    truncated frame file is never decoded (`read_image`), so it has nothing to say."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # OpenCV reads it on its first FFmpeg open
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    name: str
    index: int
    t: float


def natural_key(name: str) -> list:
    """Sort key that puts `2.jpg` before `10.jpg`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


# A marker, past any fill bytes: not a stuffed 0xFF (0x00), a TEM (0x01) or a restart (0xD0-0xD7),
# which stand inside scan data.
_MARKER = re.compile(rb"\xff+([^\x00\x01\xd0-\xd7\xff])")


def truncated_jpeg(data: bytes) -> bool:
    """True for a JPEG whose data stops before its end-of-image marker (a copy cut short, a frame
    still being written). OpenCV decodes such a file without an error, the missing part grey (and
    libjpeg says so on stderr), so a reader would read digits it no longer shows and a trainer learn
    them. The file's markers are walked (a segment by its length, scan data to its next marker), so
    the end marker of an EXIF thumbnail inside a segment is not taken for the image's, and data a
    camera appends after the image (a phone's motion photo) does not hide it."""
    if not data.startswith(b"\xff\xd8"):
        return False  # not a JPEG, whatever its name: the decoder judges it
    pos = 2
    while (marker := _MARKER.search(data, pos)) is not None:
        if marker.group(1) == b"\xd9":  # end of image
            return False
        if marker.end() + 2 > len(data):
            return True
        pos = marker.end() + int.from_bytes(data[marker.end():marker.end() + 2], "big")  # past the segment
    return True


def read_image(path: str | Path) -> tuple[np.ndarray | None, str | None]:
    """The colour image in a file, or (None, why not): a file that cannot be read, a JPEG cut
    short (never decoded: `truncated_jpeg`), or one OpenCV cannot decode. EXIF orientation is
    applied, as `cv2.imread` does."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if truncated_jpeg(data):
        return None, "cut short (the JPEG stops before its end marker)"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None or image.size == 0:
        return None, "not an image OpenCV can decode"
    return image, None


class FolderSource:
    """Images in a folder, in natural order, replayed as a camera.

    With `fps`, frames are paced at that rate and stamped `index / fps`; without it they come as
    fast as the reader takes them, stamped `index * interval` (the nominal capture interval).
    Unreadable images (a JPEG cut short among them) are skipped with a warning and counted in
    `corrupt`.
    """

    def __init__(self, folder: str | Path, fps: float | None = None, interval: float = 1.0) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"not a folder of images: {self.folder}")
        self.files = sorted(
            (p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name)
        )
        if not self.files:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {self.folder}")
        self.fps = fps
        self.interval = 1.0 / fps if fps else interval
        self.corrupt: list[str] = []
        self.name = str(self.folder)
        self.first = 0  # the index replay starts at (`resume_after`)

    def __len__(self) -> int:
        return len(self.files)

    def resume_after(self, index: int) -> None:
        """Replay from the frame after `index`: a service reopening the folder after a stall goes
        on where it was, rather than reading the frames it logged again."""
        self.first = index + 1

    def __iter__(self) -> Iterator[Frame]:
        start, given = time.monotonic(), 0
        for index in range(self.first, len(self.files)):
            path = self.files[index]
            if self.fps:  # paced by the frames given: a file gone or unreadable takes no slot
                delay = start + given / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            image, why = read_image(path)
            if image is None:
                self.corrupt.append(path.name)
                log.warning("skipping image %s: %s", path, why)
                continue
            given += 1
            yield Frame(image, path.name, index, index * self.interval)

    def close(self) -> None:
        pass


class ImageSource:
    """One still image file, read as a single frame named after the file.

    `still` tells the reader there is no sequence behind it: nothing follows the frame, so its
    reading is judged on its own rather than held until a later frame confirms it.
    """

    still = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.corrupt: list[str] = []
        self.image, why = read_image(self.path)
        if self.image is None:
            raise SourceError(f"cannot read image {self.path}: {why}")

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Frame]:
        yield Frame(self.image, self.path.name, 0, 0.0)

    def close(self) -> None:
        pass


_SIZE_TOLD: set[tuple[str, tuple[int, int], tuple[int, int]]] = set()  # each camera's refusal, said once
# Seconds a network stream may take to open, and to send its next frame, before OpenCV gives up on
# it (its own default is 30 s each: a camera that takes the connection, or an HTTP stream that sends
# its headers, and then nothing, held a read that long). A camera sends a frame every second or
# more often, and answers an open in a few seconds.
STREAM_TIMEOUT_S = 10.0


class VideoSource:
    """A webcam (an index, or a device node: `is_device`), a video file or a stream URL through
    OpenCV's VideoCapture. A webcam is asked for `size` (width, height), where given: OpenCV opens
    one at 640x480 whatever it offers, and a display across the room may need more pixels."""

    def __init__(self, spec: str | int, fps: float | None = None, size: tuple[int, int] | None = None) -> None:
        self.name = shown_source(str(spec))
        self._shown = spec if isinstance(spec, int) else self.name  # as messages name it: 0, 'rtsp://u:***@cam/'
        self.fps = fps
        self.is_file = isinstance(spec, str) and Path(spec).is_file()
        self.live = not self.is_file  # a camera or a stream: it has no end, and what it sent is gone
        try:
            self.capture = _capture(spec)
        except (cv2.error, OverflowError) as exc:  # a camera index past a C int
            raise SourceError(f"cannot open video source {self._shown!r}: {str(exc).splitlines()[0][:120]}") from None
        if not self.capture.isOpened():
            why = _why_not(spec)
            raise SourceError(f"cannot open video source {self._shown!r}" + (f": {why}" if why else ""))
        if size is not None:
            self._ask_size(size)
        self.corrupt: list[str] = []
        self.file_fps = self.capture.get(cv2.CAP_PROP_FPS) or 0.0

    def _ask_size(self, size: tuple[int, int]) -> None:
        """Asks the camera for `size`; a camera that does not offer it keeps the nearest it has (or
        its own), and says so once."""
        self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        got = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if got != size and (self.name, size, got) not in _SIZE_TOLD:
            _SIZE_TOLD.add((self.name, size, got))
            log.warning("camera %s gives %dx%d, not the %dx%d asked: a size it does not offer", self.name, *got, *size)

    def __iter__(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        while True:
            ok, image = self.capture.read()
            if not ok or image is None:
                if self.is_file:
                    return
                raise SourceError(f"video source {self._shown!r} stopped delivering frames")
            t = self._file_time(index) if self.is_file else None  # a file's own clock, not the replay speed
            if t is None:
                t = time.monotonic() - start
            if self.fps:
                delay = start + index / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield Frame(image, str(index), index, t)
            index += 1

    def _file_time(self, index: int) -> float | None:
        """The time of the frame just read in a video file: its own timestamp from the first
        frame's (a phone records at a frame rate that drops in dim light, so index / fps runs
        fast or slow), else one frame interval past the last (a container with no timestamps, or
        one that repeats); None where the file says neither."""
        ms = self.capture.get(cv2.CAP_PROP_POS_MSEC)
        if index == 0:
            self._t0, self._t = ms, 0.0
            return 0.0
        t = (ms - self._t0) / 1000.0 if math.isfinite(ms) and math.isfinite(self._t0) else None
        if t is None or t <= self._t:
            if not self.file_fps > 0:
                return None
            t = self._t + 1.0 / self.file_fps
        self._t = t
        return t

    def close(self) -> None:
        self.capture.release()


def _capture(spec: str | int) -> cv2.VideoCapture:
    """OpenCV's capture of `spec`: a device node by the index it names, a URL with
    STREAM_TIMEOUT_S for its open and each read."""
    if isinstance(spec, str) and is_device(spec):
        return cv2.VideoCapture(capture_target(spec))
    if isinstance(spec, str) and re.match(r"^[a-z][a-z0-9+.-]*://", spec, re.I):
        ms = int(STREAM_TIMEOUT_S * 1000)
        return cv2.VideoCapture(spec, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    return cv2.VideoCapture(spec)


def _why_not(spec: str | int) -> str | None:
    """Why OpenCV could not open `spec`, where segread can tell: what a network URL answers
    (`edge.rtsp`), or what a webcam's device node is (`edge.webcam.not_a_camera`); else None."""
    if isinstance(spec, str) and re.match(r"^(rtsps?|rtmps?)://", spec, re.I):
        from edge.rtsp import why_not

        return why_not(spec)
    if sys.platform.startswith("linux") and (isinstance(spec, int) or is_device(spec)):
        return not_a_camera(f"/dev/video{spec}" if isinstance(spec, int) else os.path.realpath(spec))
    return None


def open_source(spec: str, fps: float | None = None, interval: float = 1.0, size: tuple[int, int] | None = None):
    """A folder, an image file, a webcam index ("0") or device node, a video file, an rtsp/http(s)
    stream URL, or an http(s) URL that answers with one still image (polled: `edge.snapshot`).
    `size` (width, height) is asked of a webcam; given for any other source, it is a SourceError."""
    quiet_opencv()
    if not spec.strip():
        raise SourceError("the source is empty: name a folder, a file, a camera (0) or a URL")
    if size is not None and not is_camera(spec):
        raise SourceError(f"a size is asked of a webcam (an index or /dev/video*), not of {shown_source(spec)}")
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path, fps=fps, interval=interval)
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    if spec.isdigit():
        if int(spec) > 10_000:  # V4L2 numbers its nodes from 0; OpenCV takes no index past a C int
            raise SourceError(f"camera index {spec} is out of range (a webcam is 0, 1, ...)")
        return VideoSource(int(spec), fps=fps, size=size)
    if is_device(spec):
        return VideoSource(spec, fps=fps, size=size)
    if (why := malformed_url(spec)) is not None:
        raise SourceError(why)
    if re.match(r"^https?://", spec, re.I):
        from edge.snapshot import SnapshotSource, TLSRefused, probe

        try:
            first = probe(spec)  # one still per request (a snapshot URL), or a stream for OpenCV
        except TLSRefused as refused:
            try:
                return VideoSource(spec, fps=fps)  # an FFmpeg that checks no certificate
            except SourceError:
                raise refused from None
        return VideoSource(spec, fps=fps) if first is None else SnapshotSource(spec, fps=fps, first=first)
    if path.is_file() or re.match(r"^(rtsps?|rtmps?)://", spec, re.I):
        return VideoSource(spec, fps=fps)
    if not path.exists() and (path.suffix or len(path.parts) > 1):  # meant as a file or folder
        raise SourceError(f"source {spec!r}: no such file or folder")
    raise SourceError(f"source {spec!r} is not a folder, an image, a video file, a camera index or a stream URL")
