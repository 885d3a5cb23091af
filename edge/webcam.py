"""A webcam on Linux by its device node: /dev/video2, or the name that survives a replug
(/dev/v4l/by-id/usb-...-video-index0), looked up at each open; what a node that cannot be opened
is (not there, not this user's, no video device, a metadata node, busy); and the frame size asked
of a webcam."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from edge.errors import SourceError

_CAMERA_NODE = re.compile(r"^/dev/(video\d+|v4l/)")


def is_device(spec: str) -> bool:
    """True for a camera named by its device node: /dev/video2, or a name that links to one and
    stays the same when the camera is replugged or the machine restarts
    (/dev/v4l/by-id/usb-...-video-index0, /dev/v4l/by-path/...; the number a webcam gets may change);
    also any other character device (/dev/null), to say it is none. A file under /dev (a video in
    /dev/shm) is a file, there or not."""
    node = os.path.realpath(spec)
    if _CAMERA_NODE.match(spec) or _CAMERA_NODE.match(node):
        return True
    try:
        return stat.S_ISCHR(os.stat(node).st_mode)
    except (OSError, ValueError):
        return False


def capture_target(spec: str) -> int | str:
    """What OpenCV opens for a device node `spec`, resolved now (a replugged camera's link points
    at its new number): the index of /dev/videoN, else the node. SourceError where no camera is
    there, or where this user may not open it."""
    node = os.path.realpath(spec)
    if (why := _absent_or_denied(node, spec if node == spec else f"{spec} (-> {node})")) is not None:
        raise SourceError(why)
    number = re.fullmatch(r"/dev/video(\d+)", node)
    return int(number.group(1)) if number else node


def _absent_or_denied(node: str, named: str) -> str | None:
    """Why device `node` (`named` so in messages) cannot be opened before OpenCV is asked: it is
    not there, or this user may not open it; None where neither."""
    if not os.path.exists(node):
        return f"no camera at {named}: unplugged? `ls /dev/v4l/by-id` lists the cameras plugged in"
    if not os.access(node, os.R_OK | os.W_OK):
        group = _group(node)
        return f"permission denied on {named} (add the user to the group {group!r}: usermod -aG {group} $USER, then log in again)"
    return None


def _group(node: str) -> str:
    import grp

    gid = os.stat(node).st_gid
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def parse_size(text: str) -> tuple[int, int]:
    """"1280x720" as (1280, 720); ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d{2,5})\s*[xX]\s*(\d{2,5})\s*", text)
    if match is None or not all(16 <= int(v) <= 16384 for v in match.groups()):
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT in pixels, such as 1280x720")
    return int(match.group(1)), int(match.group(2))


def not_a_camera(node: str) -> str:
    """What a Linux device node that OpenCV could not open is: not there, not this user's to open,
    no video device at all, a webcam's second node (its metadata, no frames), or a capture node
    that is busy (another process reads it) or that OpenCV cannot open."""
    if (why := _absent_or_denied(node, node)) is not None:
        return why
    sys_dir = Path("/sys/class/video4linux") / Path(node).name
    if not sys_dir.is_dir():
        return f"{node} is no video device"
    index = (sys_dir / "index").read_text().strip() if (sys_dir / "index").is_file() else "0"
    if index != "0":
        return f"{node} is the camera's node {index}, which carries no frames: its capture node is index 0 (video-index0)"
    return f"another process may be reading it (a webcam serves one at a time: `fuser {node}` names it)"


def is_camera(spec: str) -> bool:
    """A webcam: an index ("0") or a device node (`is_device`)."""
    return spec.isdigit() or is_device(spec)
