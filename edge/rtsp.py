"""Why a network video URL does not open, in words, where OpenCV says only that it cannot.

OpenCV's FFmpeg gives no reason when an `rtsp://` (or `rtmp://`) URL fails to open, and the
reasons a person can act on are few: the host name is wrong, nothing listens on that port, the
camera does not answer, the user or password is wrong, or the stream path is. `why_not(url)` asks
once the open has failed: it resolves the host, connects, and for RTSP sends one DESCRIBE, as a
camera's client does first (answering a Basic or Digest challenge with the URL's user and password),
and reads the status the camera gives.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import time
import urllib.parse

PORTS = {"rtsp": 554, "rtmp": 1935, "rtsps": 322, "rtmps": 443}
MAX_HEAD = 64 << 10  # an RTSP answer's status and headers are far shorter
# A camera locks a user out after a few wrong logins (some after 5), and a service reopening a
# camera that refuses its password asks again and again: the login is tried once per URL a while.
LOGIN_EVERY_S = 600.0
_TRIED: dict[str, tuple[float, str | None]] = {}


def why_not(url: str, timeout: float = 5.0) -> str | None:
    """What stops `url` (rtsp, rtsps, rtmp) from opening, in words; None for an rtsps or rtmp URL
    whose host takes the connection (their handshakes are FFmpeg's to judge). An RTSP camera that
    answers DESCRIBE with 200 is said to: the fault is then past what one request can tell."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if not host:
        return "the URL names no host"
    port = parts.port if parts.port is not None else PORTS.get(scheme, 554)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return f"no such host: {host}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return f"nothing listens on {host} port {port} (connection refused)"
    except (TimeoutError, socket.timeout):
        return f"no answer from {host} port {port} (timed out after {timeout:g} s)"
    except OSError as exc:
        return f"{host} port {port}: {exc.strerror or exc}"
    with sock:
        if scheme != "rtsp":
            return None
        bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        answer = _describe(sock, bare, None, timeout)
    if isinstance(answer, str):
        return answer
    status, reason, headers = answer
    if status == 401 and parts.username is not None:
        said = _TRIED.get(url)
        if said is not None and time.monotonic() - said[0] < LOGIN_EVERY_S:
            return said[1]
        _TRIED[url] = (time.monotonic(), why := _login(parts, host, port, bare, headers, timeout))
        return why
    return _said(status, reason, parts.username is not None)


def _login(parts: urllib.parse.SplitResult, host: str, port: int, bare: str, headers: dict, timeout: float) -> str | None:
    """Answers the camera's 401 with the URL's user and password: what it says then."""
    login = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    offered = headers.get("www-authenticate", [])
    said = next(filter(None, (_authorization(c, login, bare) for c in sorted(offered, key=_digest_first))), None)
    if said is None:
        return f"RTSP 401: the camera asks for a login segread cannot answer ({'; '.join(offered) or 'none named'})"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:  # a camera may close after a 401
            answer = _describe(sock, bare, said, timeout)
    except OSError as exc:
        return f"{host} port {port}: {exc.strerror or exc}"
    if isinstance(answer, str):
        return answer
    status, reason, headers = answer
    if status == 401:
        return f"RTSP {status} {reason}: the camera refused the user and password"
    return _said(status, reason, True)


def _said(status: int, reason: str, login: bool) -> str | None:
    if status == 401:
        return f"RTSP {status} {reason}: it wants a user and password (rtsp://user:password@host/...)"
    if status == 404:
        return f"RTSP {status} {reason}: no stream at that path (the camera's manual names its stream URL)"
    if 200 <= status < 300:
        return (f"the camera answers (RTSP {status} to DESCRIBE), so {'its address and login are' if login else 'its address is'} right; "
                "what it streams could not be opened (its codec, or RTP blocked on the way)")
    return f"RTSP {status} {reason}"


def _describe(sock: socket.socket, url: str, authorization: str | None, timeout: float):
    """Sends one DESCRIBE of `url`: (status, reason, {header in lower case: its values}), or why
    there is none."""
    lines = [f"DESCRIBE {url} RTSP/1.0", "CSeq: 2", "Accept: application/sdp", "User-Agent: segread"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    deadline = time.monotonic() + timeout  # for the whole answer: a camera may drip it a byte at a time
    data = b""
    try:
        sock.settimeout(timeout)
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, socket.timeout):
        return "it takes the connection but does not answer (timed out)" if not data else "its answer stops short (timed out)"
    except OSError as exc:
        return f"the connection failed: {exc.strerror or exc}"
    if not data:
        return "it closes the connection without an answer"
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = re.match(r"RTSP/\d\.\d\s+(\d{3})\s*(.*)", head[0])
    if status is None:
        return "it answers, but not in RTSP (another protocol on that port?)"
    headers: dict[str, list[str]] = {}  # a camera may offer Basic and Digest, a header each
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(status.group(1)), status.group(2).strip() or "", headers


def _digest_first(challenge: str) -> bool:
    return not challenge.lower().startswith("digest")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _authorization(challenge: str, login: tuple[str, str], url: str) -> str | None:
    """The Authorization header answering `challenge` (one WWW-Authenticate value) for DESCRIBE of
    `url`: Basic, or Digest with MD5 (RFC 2617, with qop=auth where the camera offers it); None
    for a scheme or algorithm it cannot answer."""
    user, password = login
    kind = challenge.split(None, 1)[0].lower() if challenge else ""
    if kind == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    fields = dict((k.lower(), v1 or v2) for k, v1, v2 in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', challenge))
    if kind != "digest" or fields.get("algorithm", "MD5").upper() != "MD5":
        return None
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"DESCRIBE:{url}")
    said = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{url}"'
    if "auth" in [q.strip() for q in fields.get("qop", "").split(",")]:
        cnonce = os.urandom(8).hex()
        said += f', qop=auth, nc=00000001, cnonce="{cnonce}", response="{_md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")}"'
    else:
        said += f', response="{_md5(f"{ha1}:{nonce}:{ha2}")}"'
    if "opaque" in fields:
        said += f', opaque="{fields["opaque"]}"'
    return said
