"""Network cameras on real sockets: an MJPEG stream cut for a moment or for good, a snapshot URL
polled, a password in the URL that reaches the camera and nothing segread writes."""

import base64
import hashlib
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
import sqlite_utils

from tests.conftest import segread_cmd


@contextmanager
def serving(handler):
    """`handler` (a BaseHTTPRequestHandler class) served on a free local port: its base URL, the
    server shut down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class NetworkCamera:
    """A network camera on a real socket showing a still display (the tiny model reads 12:34):
    an MJPEG stream at 20 frames a second, or with `snapshot` one JPEG per request. `down()` cuts
    it (open connections end, new ones are hung up on) until `up()`; `mute()` holds every connection
open and sends nothing more, a new one its headers only; with `password`, a request
    without Basic auth as `rower` gets 401. A snapshot's Content-Type is `kind` (None: none)."""

    def __init__(self, snapshot: bool = False, password: str | None = None, kind: str | None = "image/jpeg") -> None:
        jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 100, np.uint8))[1].tobytes()
        self.is_down = threading.Event()
        self.is_mute = threading.Event()
        self.requests = 0
        camera = self
        wanted = "Basic " + base64.b64encode(f"rower:{password}".encode()).decode() if password else None

        class Stream(BaseHTTPRequestHandler):
            def do_GET(self):
                camera.requests += 1
                if camera.is_down.is_set():
                    self.close_connection = True
                    return  # hung up on: no response at all
                if wanted and self.headers.get("Authorization") != wanted:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/moved":  # a snapshot URL that redirects to the image
                    self.send_response(302)
                    self.send_header("Location", "/video")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path != "/video":
                    self.send_error(404)
                    return
                if snapshot:
                    self.send_response(200)
                    if kind is not None:
                        self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(jpeg)))
                    self.end_headers()
                    self.wfile.write(jpeg)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not camera.is_down.is_set():
                        if camera.is_mute.is_set():  # the connection held open, and nothing sent
                            time.sleep(0.05)
                            continue
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                         % (len(jpeg), jpeg))
                        time.sleep(0.05)
                except OSError:
                    pass  # the reader went away

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Stream)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/video"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        self.is_down.set()

    def up(self) -> None:
        self.is_down.clear()

    def mute(self) -> None:
        self.is_mute.set()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_records(out, n: int, proc, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while not out.exists() or len(out.read_text().splitlines()) < n:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else n
        time.sleep(0.05)
    return len(out.read_text().splitlines())


def test_a_stream_cut_for_a_moment_is_reopened_and_the_session_goes_on(tmp_path, tiny_onnx):
    # A Wi-Fi blip mid-workout: before, `segread read` of a stream ended at it with an error.
    camera = NetworkCamera()
    out, db = tmp_path / "out.jsonl", tmp_path / "s.db"
    proc = subprocess.Popen(segread_cmd("read", camera.url, "--model", tiny_onnx, "--db", db, "--no-dedup",
                                        "--no-queue", "--jsonl", out), stderr=subprocess.PIPE, text=True)
    try:
        before = wait_records(out, 5, proc)
        camera.down()
        time.sleep(1.5)  # refused meanwhile: each reopen is hung up on
        camera.up()
        wait_records(out, before + 10, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        camera.close()
    assert proc.returncode == 0, err
    assert "outage:" in err and "recovered after" in err and "outages 1" in err.splitlines()[-1]
    store = sqlite_utils.Database(db)
    (session,) = list(store.query("select * from sessions"))
    assert session["status"] == "closed" and session["end_reason"] == "stopped"
    records = [json.loads(line) for line in out.read_text().splitlines()]
    accepted = sum(r["status"] == "accepted" for r in records)
    assert accepted > before and session["readings"] == accepted
    assert [r["frame"] for r in records] == [str(i) for i in range(len(records))]  # numbered on through the reopen (was 0, 1, ... again)


def test_a_stream_gone_for_good_ends_the_read_after_give_up_with_one_line(tmp_path, tiny_onnx):
    camera = NetworkCamera()
    out, db = tmp_path / "out.jsonl", tmp_path / "s.db"
    proc = subprocess.Popen(segread_cmd("read", camera.url, "--model", tiny_onnx, "--db", db, "--no-dedup",
                                        "--no-queue", "--jsonl", out, "--give-up", 2), stderr=subprocess.PIPE, text=True)
    try:
        wait_records(out, 5, proc)
        camera.down()
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        camera.close()
    assert proc.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"segread: error: camera {camera.url} out for ") and ", giving up; the last try: " in last, err
    (session,) = list(sqlite_utils.Database(db).query("select * from sessions"))
    assert session["status"] == "closed" and session["end_reason"].startswith("error: ") and "giving up" in session["end_reason"]



def test_a_stream_that_sends_its_headers_and_nothing_more_fails_to_open_in_seconds_not_opencvs_30(tmp_path, tiny_onnx):
    from edge.capture import STREAM_TIMEOUT_S

    camera = NetworkCamera()
    camera.mute()
    started = time.monotonic()
    try:
        done = subprocess.run(segread_cmd("read", camera.url, "--model", tiny_onnx, "--db", tmp_path / "s.db", "--no-queue"),
                              capture_output=True, text=True, timeout=120)
    finally:
        camera.close()
    waited = time.monotonic() - started
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
        f"segread: error: cannot open video source {camera.url!r}"), done.stderr
    assert STREAM_TIMEOUT_S <= waited < 30, waited  # OpenCV's own timeout is 30 s


def read_a_while(url: str, model, tmp_path, records: int = 8, *args) -> tuple[int, str, list[dict]]:
    """`segread read URL` until `records` frames are out, then Ctrl-C: exit code, stderr, records."""
    out, db = tmp_path / "out.jsonl", tmp_path / "s.db"
    proc = subprocess.Popen(segread_cmd("read", url, "--model", model, "--db", db, "--no-dedup", "--no-queue",
                                        "--jsonl", out, *args), stderr=subprocess.PIPE, text=True)
    try:
        wait_records(out, records, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err, [json.loads(line) for line in out.read_text().splitlines()]


def test_a_snapshot_url_is_polled_at_fps_not_read_as_a_one_frame_video(tmp_path, tiny_onnx):
    # An ESP32-CAM's /capture, an IP camera's snapshot URL: one JPEG per request. OpenCV opened it as
    # a video of one frame, which ended at once (and with reopening, one outage per frame).
    camera = NetworkCamera(snapshot=True)
    try:
        rc, err, records = read_a_while(camera.url, tiny_onnx, tmp_path, 8, "--fps", 10)
    finally:
        camera.close()
    assert rc == 0, err
    assert "outage" not in err and "WARNING" not in err
    assert sum(r["status"] == "accepted" for r in records) >= 6 and {r["reading"] for r in records} == {"1234"}
    assert camera.requests <= len(records) + 3  # one request a frame, polled, not hammered
    (session,) = list(sqlite_utils.Database(tmp_path / "s.db").query("select * from sessions"))
    assert session["end_reason"] == "stopped" and session["source"] == camera.url


def test_a_password_in_the_url_reaches_the_camera_and_nothing_segread_writes(tmp_path, tiny_onnx):
    camera = NetworkCamera(snapshot=True, password="s3cret")
    url = f"http://rower:s3cret@127.0.0.1:{camera.port}/video"
    try:
        rc, err, _ = read_a_while(url, tiny_onnx, tmp_path, 4, "--fps", 10)
        wrong = subprocess.run(segread_cmd("read", url.replace("s3cret", "guess"), "--model", tiny_onnx,
                                           "--db", tmp_path / "s.db"), capture_output=True, text=True, timeout=60)
        missing = subprocess.run(segread_cmd("read", url.replace("/video", "/nothing"), "--model", tiny_onnx,
                                             "--db", tmp_path / "s.db"), capture_output=True, text=True, timeout=60)
    finally:
        camera.close()
    assert rc == 0, err
    shown = f"http://rower:***@127.0.0.1:{camera.port}/video"
    assert f"reading {shown} with tiny" in err
    (session,) = list(sqlite_utils.Database(tmp_path / "s.db").query("select * from sessions"))
    assert session["source"] == shown
    listed = subprocess.run(segread_cmd("sessions", "--db", tmp_path / "s.db"), capture_output=True, text=True)
    exported = subprocess.run(segread_cmd("sessions", "--db", tmp_path / "s.db", "export", 1, "--json"),
                              capture_output=True, text=True)
    assert shown in listed.stdout and exported.returncode == 0
    written = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.is_file())
    for text in (err, wrong.stderr, missing.stderr, listed.stdout, exported.stdout):
        assert "s3cret" not in text and "guess" not in text
    assert b"s3cret" not in written
    assert wrong.returncode == 2 and wrong.stderr.strip() == (
        f"segread: error: cannot open http://rower:***@127.0.0.1:{camera.port}/video: "
        "HTTP 401 Unauthorized: the camera refused the user and password")  # it was given one: not "a password?"
    assert missing.returncode == 2 and missing.stderr.strip() == (
        f"segread: error: cannot open http://rower:***@127.0.0.1:{camera.port}/nothing: HTTP 404 Not Found")


def test_a_password_beside_an_ipv6_address_keeps_the_brackets_on_the_url_asked():
    # The host was rebuilt from its parsed name, brackets dropped: http://[::1]/ became http://::1/,
    # which urllib reads as host "::" port 1 (with a port given, it worked by luck).
    from edge.snapshot import _opener

    assert _opener("http://rower:pw@[::1]/video")[0] == "http://[::1]/video"
    assert _opener("http://rower:pw@[fe80::1%25eth0]:8080/video")[0] == "http://[fe80::1%25eth0]:8080/video"
    assert _opener("http://rower:p%40w@Cam.local:81/video")[0] == "http://Cam.local:81/video"


def test_a_password_goes_along_a_redirect_to_another_path_of_the_camera(tmp_path, tiny_onnx):
    # /snapshot.cgi -> /tmp/snap.jpg: the password was given for the first path only, so the image
    # asked for its own got none, and the read ended with "HTTP 401 Unauthorized".
    camera = NetworkCamera(snapshot=True, password="s3cret")
    try:
        rc, err, records = read_a_while(f"http://rower:s3cret@127.0.0.1:{camera.port}/moved", tiny_onnx, tmp_path, 4,
                                        "--fps", 10)
    finally:
        camera.close()
    assert rc == 0, err
    assert "outage" not in err and {r["reading"] for r in records} == {"1234"}


def test_a_url_that_answers_no_http_or_names_no_port_is_one_line_not_a_traceback(tmp_path, tiny_onnx):
    # An http:// URL on a port that speaks another protocol (http.client's BadStatusLine), or with a
    # port that is no number: neither error is an OSError, so both escaped as a traceback.
    server = socket.create_server(("127.0.0.1", 0))

    def banner():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(4096)
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.close()

    threading.Thread(target=banner, daemon=True).start()
    port = server.getsockname()[1]
    try:
        for url, why in ((f"http://127.0.0.1:{port}/video", "it answers, but not in HTTP (another protocol on that port?)"),
                         ("http://rower:s3cret@127.0.0.1:8o8o/video", "its port is not a number from 0 to 65535")):
            done = subprocess.run(segread_cmd("read", url, "--model", tiny_onnx, "--db", tmp_path / "s.db"),
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 2 and done.stderr.strip() == f"segread: error: cannot open {shown(url)}: {why}", done.stderr
    finally:
        server.close()


def shown(url: str) -> str:
    return url.replace("s3cret", "***")


@pytest.mark.parametrize("kind", [None, "application/octet-stream"])
def test_a_snapshot_sent_untyped_or_as_bytes_is_polled_too(tmp_path, tiny_onnx, kind):
    # A cheap camera's JPEG with no Content-Type, or application/octet-stream: it went to OpenCV as a
    # one-frame video, so every frame was an outage and a reopen.
    camera = NetworkCamera(snapshot=True, kind=kind)
    try:
        rc, err, records = read_a_while(camera.url, tiny_onnx, tmp_path, 8, "--fps", 10)
    finally:
        camera.close()
    assert rc == 0, err
    assert "outage" not in err and {r["reading"] for r in records} == {"1234"}
    assert camera.requests <= len(records) + 3


def test_a_camera_answering_no_image_is_polled_by_one_reader_at_a_time(tmp_path, tiny_onnx):
    # Each answer "image/jpeg" but no JPEG: the snapshot source skipped them and yielded nothing, so
    # its thread never saw that it was given up on (a stall, then a reopen) and polled on: one more
    # poller hammering the camera each outage. Now a run of such answers ends it as an outage.
    busy, most, served, lock = [0], [0], [0], threading.Lock()

    class Junk(BaseHTTPRequestHandler):
        def do_GET(self):
            with lock:
                busy[0] += 1
                most[0] = max(most[0], busy[0])
            time.sleep(0.2)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"not a jpeg")
            with lock:
                busy[0] -= 1
                served[0] += 1

        def log_message(self, *args):
            pass

    with serving(Junk) as base:
        url = f"{base}/capture"
        done = subprocess.run(segread_cmd("read", url, "--model", tiny_onnx, "--db", tmp_path / "s.db", "--no-queue",
                                          "--fps", 5, "--give-up", 8), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "giving up" in done.stderr.splitlines()[-1], done.stderr
    assert most[0] == 1, done.stderr
    assert f"outage: 5 snapshots in a row from {url} were no image it can decode; reopening" in done.stderr
    # The count of unreadable frames covers every time the camera was opened, not the first only.
    said = re.search(r"segread: skipped (\d+) unreadable image\(s\): (.*)", done.stderr)
    skipped = int(said.group(1))
    assert skipped > 5 and served[0] - 1 <= skipped <= served[0], (skipped, served[0])
    named = said.group(2).rstrip(", .").split(", ")
    assert all(re.fullmatch(r"snapshot \d+ at \d\d:\d\d:\d\d", n) for n in named), named  # a reopen counts from 0 again


def test_a_camera_answering_a_web_page_says_so_in_one_line(tmp_path, tiny_onnx):
    # A login page, or the camera's own page given for its snapshot URL: it went to OpenCV, and the
    # read ended with "cannot open video source", nothing saying what the URL answered.
    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            page = b"<html><body><form>User <input name=user> Password <input name=pw></form></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    with serving(Page) as base:
        url = f"{base}/"
        done = subprocess.run(segread_cmd("read", url, "--model", tiny_onnx, "--db", tmp_path / "s.db"),
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == (
        f"segread: error: cannot open {url}: it answers with a web page (text/html), not an image or a video stream "
        "(a login page? the camera's snapshot or stream URL is another)"), done.stderr


def test_a_camera_s_self_signed_certificate_is_named_as_what_stops_the_read(tmp_path, tiny_onnx):
    # https with the camera's own certificate: the probe passed it on to OpenCV, whose FFmpeg checks
    # it too (FFmpeg 8), and the read ended "cannot open video source", nothing said of the certificate.
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate with")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=camera"], check=True, capture_output=True)
    camera = NetworkCamera(snapshot=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    camera.server.socket = tls.wrap_socket(camera.server.socket, server_side=True)
    url = f"https://127.0.0.1:{camera.port}/video"
    try:
        done = subprocess.run(segread_cmd("read", url, "--model", tiny_onnx, "--db", tmp_path / "s.db"),
                              capture_output=True, text=True, timeout=60)
    finally:
        camera.close()
    assert done.returncode == 2 and done.stderr.strip() == (
        f"segread: error: cannot open {url}: its TLS certificate is not trusted (self-signed certificate); "
        "for a camera's own certificate, SSL_CERT_FILE=its .pem trusts it, or use http://"), done.stderr


def test_ctrl_c_is_heard_while_an_rtsp_camera_holds_the_first_open(tmp_path, tiny_onnx):
    # A camera that takes the connection and never answers: OpenCV's open waits (10 s now, 30 s
    # before edge.capture.STREAM_TIMEOUT_S), and before, Ctrl-C was heard only when it gave up.
    camera = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    camera.bind(("127.0.0.1", 0))
    camera.listen(4)
    camera.settimeout(60)
    proc = subprocess.Popen(segread_cmd("read", f"rtsp://127.0.0.1:{camera.getsockname()[1]}/live", "--model", tiny_onnx,
                                        "--db", tmp_path / "s.db"), stderr=subprocess.PIPE, text=True)
    try:
        held, _ = camera.accept()  # segread is inside the open now
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        camera.close()
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "segread: aborted", err


class RtspCamera:
    """An RTSP camera on a real socket: OPTIONS and DESCRIBE of `path` answered, with `password`
    only for `rower` with that password by Digest (qop=auth with `qop`), else 401. A DESCRIBE it
    takes gets 200 and no SDP, so no client can open a stream. `logins` counts the Authorization
    headers it was sent, right or wrong."""

    def __init__(self, password: str | None = None, path: str = "/live", qop: bool = False) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"rtsp://127.0.0.1:{self.server.getsockname()[1]}{path}"
        self.password, self.path, self.qop, self.logins = password, path, qop, 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while (chunk := conn.recv(4096)):
                data += chunk
                while b"\r\n\r\n" in data:
                    head, data = data.split(b"\r\n\r\n", 1)
                    conn.sendall(self._answer(head.decode()).encode())

    def _answer(self, head: str) -> str:
        method, uri, _ = head.split("\r\n")[0].split(" ")
        fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
        cseq = fields.get("CSeq", "1")
        if "Authorization" in fields:
            self.logins += 1
        if self.password and not self._right(fields.get("Authorization", ""), method):
            offer = 'Digest realm="cam", nonce="n0nce"' + (', qop="auth"' if self.qop else "")
            return f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: {offer}\r\n\r\n"
        if not uri.endswith(self.path):
            return f"RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n"
        return f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE\r\nContent-Length: 0\r\n\r\n"

    def _right(self, said: str, method: str) -> bool:
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', said)) if said.startswith("Digest ") else {}
        if fields.get("username") != "rower":
            return False
        md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
        ha1, ha2 = md5(f"rower:cam:{self.password}"), md5(f"{method}:{fields.get('uri')}")
        if self.qop:
            wanted = md5(f"{ha1}:n0nce:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
        else:
            wanted = md5(f"{ha1}:n0nce:{ha2}")
        return fields.get("response") == wanted

    def close(self) -> None:
        self.server.close()


def read_error(url: str, model, tmp_path) -> str:
    done = subprocess.run(segread_cmd("read", url, "--model", model, "--db", tmp_path / "s.db"),
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 2, done.stderr
    return done.stderr.strip()


@pytest.mark.parametrize("qop", [False, True])
def test_an_rtsp_camera_that_will_not_open_says_which_of_login_path_or_stream_is_wrong(tmp_path, tiny_onnx, qop):
    # OpenCV says only "cannot open video source" for every one of these.
    camera = RtspCamera(password="s3cret", qop=qop)
    base = camera.url.replace("rtsp://", "rtsp://rower:s3cret@")
    try:
        said = {name: read_error(url, tiny_onnx, tmp_path) for name, url in (
            ("no login", camera.url), ("wrong password", base.replace("s3cret", "guess")),
            ("wrong path", base.replace("/live", "/stream1")), ("right", base))}
    finally:
        camera.close()
    masked = shown(base)
    assert said["no login"] == (f"segread: error: cannot open video source '{camera.url}': RTSP 401 Unauthorized: "
                                "it wants a user and password (rtsp://user:password@host/...)")
    assert said["wrong password"] == (f"segread: error: cannot open video source '{masked}': "
                                      "RTSP 401 Unauthorized: the camera refused the user and password")
    assert said["wrong path"].endswith("RTSP 404 Not Found: no stream at that path (the camera's manual names its stream URL)")
    assert said["right"].endswith("so its address and login are right; what it streams could not be opened "
                                  "(its codec, or RTP blocked on the way)")
    assert not any("s3cret" in line or "guess" in line for line in said.values())


def test_an_rtsp_camera_that_refuses_a_password_is_asked_with_it_once_not_at_every_reopen():
    # A camera locks a user out after a few wrong logins; a service reopening it would ask each time.
    from edge.rtsp import why_not

    camera = RtspCamera(password="s3cret")
    wrong = camera.url.replace("rtsp://", "rtsp://rower:guess@")
    try:
        said = [why_not(wrong) for _ in range(3)]
    finally:
        camera.close()
    assert said == ["RTSP 401 Unauthorized: the camera refused the user and password"] * 3
    assert camera.logins == 1


def test_an_rtsp_url_with_nothing_there_or_no_rtsp_there_says_so(tmp_path, tiny_onnx):
    from edge.rtsp import why_not

    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert read_error(f"rtsp://127.0.0.1:{port}/live", tiny_onnx, tmp_path) == (
        f"segread: error: cannot open video source 'rtsp://127.0.0.1:{port}/live': "
        f"nothing listens on 127.0.0.1 port {port} (connection refused)")
    mute = socket.create_server(("127.0.0.1", 0))  # takes the connection, never answers
    try:
        assert why_not(f"rtsp://127.0.0.1:{mute.getsockname()[1]}/live", timeout=0.5) == (
            "it takes the connection but does not answer (timed out)")
    finally:
        mute.close()
    with serving(BaseHTTPRequestHandler) as url:  # an HTTP server on the port named
        assert why_not(url.replace("http://", "rtsp://") + "/live") == (
            "it answers, but not in RTSP (another protocol on that port?)")


@pytest.mark.parametrize("password", ["ab/cd", "ab?cd", "ab#cd"])
@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_a_password_typed_with_a_slash_is_named_as_the_fault_and_never_shown(tmp_path, tiny_onnx, password, scheme):
    # The URL's host part ends at the '/', so it asked a host called "rower" on port "ab", and the
    # error repeated the URL as typed: password and all.
    url = f"{scheme}://rower:{password}@127.0.0.1:9/live"
    said = read_error(url, tiny_onnx, tmp_path)
    assert said == (f"segread: error: cannot open {scheme}://rower:***@127.0.0.1:9/live: its user or password holds a "
                    "'/', '?' or '#', which ends a URL's host part; write them as %2F, %3F and %23")


@pytest.mark.parametrize("url, shown", [
    ("rtsp://ad/min:topsecret@127.0.0.1:9/live", "rtsp://***@127.0.0.1:9/live"),  # the user name holds the '/'
    ("http://ad?min:topsecret@127.0.0.1:9/snap", "http://***@127.0.0.1:9/snap"),
])
def test_a_user_name_typed_with_a_slash_keeps_the_password_out_of_every_message_and_config(tmp_path, tiny_onnx, url, shown):
    # The host part ended at the user's '/': the error named host "ad", the URL as typed beside it,
    # and check-config said "ok (source rtsp://ad/min:topsecret@...)"; serve then failed every open.
    said = read_error(url, tiny_onnx, tmp_path)
    assert "topsecret" not in said and said.startswith(f"segread: error: cannot open {shown}: its user or password holds")
    config = tmp_path / "segread.toml"
    config.write_text(f'database = "s.db"\n[source]\nspec = "{url}"\n')
    checked = subprocess.run(segread_cmd("check-config", config), capture_output=True, text=True, timeout=60)
    assert checked.returncode == 2 and "topsecret" not in checked.stderr and "its user or password holds" in checked.stderr


def test_a_password_in_the_query_string_is_masked_too():
    from edge.capture import shown_source

    assert shown_source("http://cam/snapshot.cgi?user=admin&pwd=topsecret&res=1") == "http://cam/snapshot.cgi?user=admin&pwd=***&res=1"
    assert shown_source("http://cam:8080/snap@2x.jpg") == "http://cam:8080/snap@2x.jpg"  # an '@' in a path is no login


def test_an_rtsp_camera_that_drips_its_answer_is_given_up_on_in_time():
    # The timeout was each recv's: a byte every half second kept the diagnosis going for ever.
    from edge.rtsp import why_not

    server = socket.create_server(("127.0.0.1", 0))

    def drip():
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            for byte in b"RTSP/1.0 200 OK\r\nCSeq: 2\r\n" * 10:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    threading.Thread(target=drip, daemon=True).start()
    start = time.monotonic()
    try:
        said = why_not(f"rtsp://127.0.0.1:{server.getsockname()[1]}/live", timeout=1.0)
    finally:
        server.close()
    assert said == "its answer stops short (timed out)" and time.monotonic() - start < 3


def test_port_0_is_named_as_port_0_not_the_default():
    from edge.rtsp import why_not

    assert why_not("rtsp://127.0.0.1:0/live") == "nothing listens on 127.0.0.1 port 0 (connection refused)"
