"""An HTTP camera that answers each request with one still image: an IP camera's snapshot URL, an
ESP32-CAM's `/capture`. OpenCV opens such a URL as a one-frame video, so it would end after a
frame; here it is polled, `fps` times a second.

`probe(url)` tells a snapshot URL from a stream (MJPEG's `multipart/x-mixed-replace`, or any other
body OpenCV should open) by one request, and turns a URL that cannot work into one line saying why
(refused, not found, a password wanted) before OpenCV is asked.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator

import cv2
import numpy as np

from edge.capture import Frame, shown_source
from edge.errors import SourceError

log = logging.getLogger(__name__)

DEFAULT_FPS = 2.0  # a rowing display changes once a second
MAX_BYTES = 32 << 20  # more than any still a camera sends; a body past it is no snapshot
BAD_IN_A_ROW = 5  # answers that are no image, one after another, that make an outage


def _opener(url: str) -> tuple[str, urllib.request.OpenerDirector]:
    """The URL without its `user:password@`, and an opener that answers a Basic or Digest
    challenge with them (urllib would take them for part of the host name): on any path of that
    host, as a camera's snapshot URL often redirects to another (/snapshot.cgi to /tmp/snap.jpg)."""
    parts = urllib.parse.urlsplit(url)
    handlers: list = []
    if parts.username is not None:
        host = parts.netloc.rpartition("@")[2]  # as written: an IPv6 address keeps its brackets
        url = urllib.parse.urlunsplit(parts._replace(netloc=host))
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        site = urllib.parse.urlunsplit((parts.scheme, host, "/", "", ""))
        passwords.add_password(None, site, urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        handlers = [urllib.request.HTTPBasicAuthHandler(passwords), urllib.request.HTTPDigestAuthHandler(passwords)]
    return url, urllib.request.build_opener(*handlers)


def _has_login(url: str) -> bool:
    try:
        return urllib.parse.urlsplit(url).username is not None
    except ValueError:
        return False


class TLSRefused(SourceError):
    """The URL's TLS handshake failed (a camera's self-signed certificate). OpenCV is asked still,
    as an FFmpeg that checks no certificate opens it; where it cannot either, this says why
    (FFmpeg 8 checks, and OpenCV says only that it cannot open the URL)."""


def _tls_why(reason: ssl.SSLError) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (f"its TLS certificate is not trusted ({reason.verify_message}); for a camera's own certificate, "
                "SSL_CERT_FILE=its .pem trusts it, or use http://")
    return f"TLS failed ({reason.reason or reason})"


def _why(exc: BaseException, login: bool = False) -> str:
    """`exc` in words; `login`: the URL gave a user and password (a 401 then refused them)."""
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code == 401:
            return f"HTTP 401 {exc.reason}" + (": the camera refused the user and password" if login else
                                               " (a user and password in the URL?)")
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, http.client.BadStatusLine) and not isinstance(exc, ConnectionError):
        return "it answers, but not in HTTP (another protocol on that port?)"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "no answer (timed out)"
    return getattr(reason, "strerror", None) or str(reason) or type(exc).__name__


def _still(answer) -> bytes | None:
    """The body of `answer` where it is one still image: one typed image/*, or one typed as nothing
    or as bytes (application/octet-stream) that starts as a JPEG or PNG does (a cheap camera's
    snapshot; OpenCV would open it as a one-frame video, an outage a frame). None otherwise: a
    stream for OpenCV, as is an untyped body past `MAX_BYTES`."""
    kind = answer.headers.get_content_type()
    if kind.startswith("image/"):
        return answer.read(MAX_BYTES + 1)
    if answer.headers.get("Content-Type") is not None and kind != "application/octet-stream":
        return None
    head = answer.read(4)
    if not head.startswith((b"\xff\xd8\xff", b"\x89PNG")):
        return None
    body = head + answer.read(MAX_BYTES + 1 - len(head))
    return body if len(body) <= MAX_BYTES else None


def probe(url: str, timeout: float = 10.0) -> bytes | None:
    """One GET of `url`: the image when it answers with one (a snapshot URL), None when it answers
    with something else for OpenCV to open (a stream). SourceError when it cannot be reached or
    refuses (an HTTP error); TLSRefused when the TLS handshake fails (see there)."""
    try:
        plain, opener = _opener(url)
        with opener.open(urllib.request.Request(plain, headers={"User-Agent": "segread"}), timeout=timeout) as answer:
            if answer.headers.get_content_type() == "text/html":  # OpenCV would say no more than that it cannot open it
                raise SourceError(f"cannot open {shown_source(url)}: it answers with a web page (text/html), not an image "
                                  "or a video stream (a login page? the camera's snapshot or stream URL is another)")
            return _still(answer)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLError):
            raise TLSRefused(f"cannot open {shown_source(url)}: {_tls_why(exc.reason)}") from None
        raise SourceError(f"cannot open {shown_source(url)}: {_why(exc, _has_login(url))}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # a reset, a timeout, a malformed URL or port, no HTTP
        raise SourceError(f"cannot open {shown_source(url)}: {_why(exc, _has_login(url))}") from None


class SnapshotSource:
    """Polls a snapshot URL at `fps` (2 a second by default), each answer one frame, stamped when it
    came. A request that fails raises SourceError (the caller reopens it, `ResilientSource`); an
    answer that is no image is skipped and counted in `corrupt`, and `BAD_IN_A_ROW` of them raise
    SourceError too: a source that yields nothing never comes back to its capture thread's halt
    check, so one given up on for a stall would poll on unseen, one more poller each outage."""

    live = True

    def __init__(self, url: str, fps: float | None = None, timeout: float = 10.0, first: bytes | None = None) -> None:
        self.url, self.name, self.timeout = url, shown_source(url), timeout
        self.interval = 1.0 / (fps or DEFAULT_FPS)
        self._plain, self._opener = _opener(url)
        self._first = first
        self.corrupt: list[str] = []

    def _fetch(self) -> bytes:
        try:
            request = urllib.request.Request(self._plain, headers={"User-Agent": "segread"})
            with self._opener.open(request, timeout=self.timeout) as answer:
                return answer.read(MAX_BYTES + 1)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError and HTTPError are OSErrors
            raise SourceError(f"snapshot from {self.name} failed: {_why(exc, _has_login(self.url))}") from None

    def __iter__(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = bad = 0
        while True:
            due = start + index * self.interval
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            data, self._first = (self._first, None) if self._first is not None else (self._fetch(), None)
            t = time.monotonic() - start
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if 0 < len(data) <= MAX_BYTES else None
            if image is None:
                at = time.strftime("%H:%M:%S")  # a reopened source counts from 0 again: the time tells them apart
                if len(self.corrupt) < 1000:
                    self.corrupt.append(f"snapshot {index} at {at}")
                log.warning("snapshot %d from %s at %s is no image it can decode; skipped", index, self.name, at)
                bad += 1
                if bad >= BAD_IN_A_ROW:
                    raise SourceError(f"{bad} snapshots in a row from {self.name} were no image it can decode")
            else:
                bad = 0
                yield Frame(image, str(index), index, t)
            index += 1
            if time.monotonic() - due > self.interval:  # a slow camera or reader: no burst to catch up
                start = time.monotonic() - index * self.interval

    def close(self) -> None:
        pass
