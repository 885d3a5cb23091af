"""The `segread` command line. Each command parses, opens its resources and calls the library."""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
import threading
from importlib.metadata import entry_points

import click

from edge.errors import SegreadError

DEFAULT_DB = "segread.db"
BLUR_HOLD = 0.16  # edge.focus.BLURRED, without loading OpenCV to parse a command line


# Commands of edge/ that live beside their stage, imported only when used.
LAZY_COMMANDS = {
    "demo": "edge.demo:demo",
    "review": "edge.review.cli:review",
    "serve": "edge.service.cli:serve",
    "check-config": "edge.service.cli:check_config",
    "status": "edge.service.cli:status",
    "retrain-ready": "edge.service.cli:retrain_ready",
}


class SegreadGroup(click.Group):
    """Adds edge's lazily imported commands and those other installed parts register through the
    `segread.commands` entry point group (the trainer's retrain, evaluate, promote and audit)."""

    def _plugins(self) -> dict:
        return {ep.name: ep for ep in entry_points(group="segread.commands")}

    def _lazy(self) -> dict:
        found = {}
        for name, target in LAZY_COMMANDS.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module.rsplit(".", 1)[0]) and importlib.util.find_spec(module):
                found[name] = target
        return found

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()) | set(self._lazy()))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None and name in self._lazy():
            module, attr = self._lazy()[name].split(":")
            command = getattr(importlib.import_module(module), attr)
        if command is None and name in self._plugins():
            try:
                command = self._plugins()[name].load()
            except ImportError as exc:
                raise click.ClickException(
                    f"'segread {name}' needs the training extra: pip install 'segread[train]' ({exc})"
                ) from None
        return command


@click.group(cls=SegreadGroup)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.pass_context
def cli(ctx, debug):
    """segread: read seven-segment LCDs from a webcam, and learn from the frames it was unsure of."""
    ctx.ensure_object(dict)["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="segread: %(levelname)s: %(message)s"
    )


def model_options(fn):
    fn = click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "tensorrt"]), default="auto",
                      show_default=True, help="Execution provider: TensorRT -> CUDA -> CPU when auto.")(fn)
    fn = click.option("--model", "model", default=None,
                      help="ONNX model, a models folder or its `current` pointer [default: the shipped models/current].")(fn)
    return fn


def _size(ctx, param, value):
    from edge.webcam import parse_size

    try:
        return parse_size(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def size_option(fn):
    return click.option("--size", default=None, metavar="WxH", callback=_size,
                        help="Ask a webcam for this frame size (1280x720) [default: OpenCV's, 640x480].")(fn)


def reader_options(fn):
    fn = click.option("--format", "fmt", default="time", show_default=True,
                      help="Display format: 'time' (MM:SS) or 'digits:N'.")(fn)
    fn = click.option("--min-conf", default=0.5, show_default=True, type=click.FloatRange(0, 1),
                      help="Least per-digit confidence to accept a reading.")(fn)
    fn = click.option("--no-dedup", is_flag=True, help="Read every frame (no de-duplication delays).")(fn)
    fn = click.option("--min-interval", default=0.25, show_default=True, type=click.FloatRange(0),
                      help="Dedup: least seconds between read frames.")(fn)
    fn = click.option("--max-interval", default=5.0, show_default=True, type=click.FloatRange(0),
                      help="Dedup: read a frame at least this often, changed or not.")(fn)
    fn = click.option("--crop-size", default=None, type=click.IntRange(32, 1280),
                      help="Input size for the tracked display crop [default: the model's crop size, else its training size].")(fn)
    return blur_hold_option(fn)


def blur_hold_option(fn):
    return click.option("--blur-hold", default=BLUR_HOLD, show_default=True, type=click.FloatRange(0, 1),
                        help="Hold readings while the digits' edges are this share of their height or more (a camera out "
                             "of focus, whose readings go confidently wrong); 0: never.")(fn)


def build_reader(model, device, fmt, min_conf, no_dedup, min_interval, max_interval, crop_size, blur_hold=BLUR_HOLD):
    from edge.dedup import DedupGate
    from edge.detect import OnnxDetector
    from edge.models import resolve_model
    from edge.pipeline import Reader

    detector = OnnxDetector(resolve_model(model), device=device)
    dedup = DedupGate(min_interval=min_interval, max_interval=max_interval, enabled=not no_dedup)
    try:
        return Reader(detector, fmt, dedup=dedup, min_conf=min_conf, crop_size=crop_size, blur_hold=blur_hold or None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--format") from None


@cli.command()
@click.argument("source")
@model_options
@reader_options
@click.option("--db", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False),
              help="SQLite session log.")
@click.option("--jsonl", default=None, help="Write one JSON object per input frame to PATH, or - for stdout.")
@click.option("--fps", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Pace a folder or file at this rate (default: as fast as the reader goes).")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds between a folder's frames when captured (their timestamps; with --fps they are stamped 1/fps apart instead); frames further apart (up to a "
                   "minute), or some left out, are followed at the pace the display shows.")
@click.option("--queue/--no-queue", "queue", default=True, show_default=True,
              help="Queue the frames the reader was unsure of for review (segread review) beside the database.")
@click.option("--give-up", "give_up", default=60.0, show_default=True, type=click.FloatRange(min=0),
              help="A camera or stream that stops sending is reopened with backoff; out this many seconds, the read ends.")
@size_option
def read(source, model, device, fmt, min_conf, no_dedup, min_interval, max_interval, crop_size, blur_hold, db, jsonl, fps,
         interval, queue, give_up, size):
    """Read a rowing session from SOURCE: a folder of images, a video file, a camera index or a stream URL
    (or a single image, whose reading is judged on its own).

    \b
    Example:
      segread read ../shared/data/sessions/run3_0800-1200 --no-dedup --jsonl out.jsonl
      segread read 0 --db ~/rowing.db
    """
    from edge.capture import FolderSource, open_source, shown_source
    from edge.errors import SourceError
    from edge.run import LiveLine, open_heard, ride_outages, run, spacing_hint, stop_on_signals
    from edge.store import SessionLog, close_abandoned, open_db

    from edge.files import open_lines

    out = open_lines(jsonl)  # before the model loads: a path it cannot write is told at once
    reader = build_reader(model, device, fmt, min_conf, no_dedup, min_interval, max_interval, crop_size, blur_hold)
    store = open_db(db)
    close_abandoned(store)  # sessions of a reader that stopped without closing them (a full disk)
    src = open_heard(lambda: open_source(source, fps=fps, interval=interval, size=size))
    if getattr(src, "still", False):
        reader.sequence.confirm_first = False  # one photo: no later frame can confirm its reading
    log = SessionLog(store, source=shown_source(source), model=reader.detector.model_id, fmt=str(reader.fmt))
    click.echo(f"segread: reading {shown_source(source)} with {reader.detector.model_id} on {reader.detector.device_name}", err=True)
    stop = threading.Event()
    skipped = [getattr(src, "corrupt", [])]  # each source's unreadable frames: a camera reopened is another source

    def reopen():
        again = open_source(source, fps=fps, size=size)
        skipped.append(getattr(again, "corrupt", []))
        return again

    camera = ride_outages(src, reopen, stop, give_up) if getattr(src, "live", False) else None
    live, review_queue = LiveLine(), None
    if queue:
        from edge.review.queue import QueueLiveLine, ReviewQueue

        review_queue = ReviewQueue.for_reader(store, reader, log)
        live = QueueLiveLine(live, review_queue)
    try:
        with stop_on_signals(stop):
            run(camera or src, reader, log, jsonl=out, live=live, stop=stop,
                on_result=review_queue.consider if review_queue else None)
    except SourceError:  # a camera given up on: what was read before it went, then why it ended
        _said_read(reader, log, camera, skipped)
        raise
    finally:
        if out is not None:
            out.close()
    _said_read(reader, log, camera, skipped)
    if review_queue is not None:
        click.echo(f"{review_queue.summary()}; see: segread review --db {db} list", err=True)
    hint = spacing_hint(reader, interval) if fps is None and isinstance(src, FolderSource) else None
    if hint:
        click.echo(f"segread: {hint}", err=True)


@cli.command()
@click.argument("source")
@model_options
@click.option("--format", "fmt", default="time", show_default=True, help="Display format: 'time' (MM:SS) or 'digits:N'.")
@click.option("--seconds", default=5.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="How long to look at a camera or stream.")
@click.option("--frames", "most", default=None, type=click.IntRange(1),
              help="At most this many frames [default: a folder's or video's first 10; a camera's for --seconds].")
@click.option("--out", default="look.jpg", show_default=True, type=click.Path(dir_okay=False),
              help="The last frame read, the digits found boxed on it (.jpg or .png).")
@size_option
@blur_hold_option
@click.pass_context
def look(ctx, source, model, device, fmt, seconds, most, out, size, blur_hold):
    """Aim the camera: read a few seconds of SOURCE, save the last frame with the digits found boxed
    on it, and say what to change (the display out of view, too small, glare, too dark, tilted).
    Nothing is logged. Exits 0 when a reading was accepted, 1 when none was.

    \b
    Example:
      segread look 0                # the webcam, 5 s; then open look.jpg
      segread look /dev/v4l/by-id/usb-046d_C270-video-index0 --out /tmp/aim.png
    """
    from pathlib import Path

    from edge.capture import open_source, shown_source
    from edge.look import look_at, save
    from edge.run import open_heard

    if Path(out).suffix.lower() not in (".jpg", ".jpeg", ".png"):
        raise click.BadParameter(f"{out}: a .jpg or .png", param_hint="--out")
    reader = build_reader(model, device, fmt, 0.5, True, 0.0, 0.0, None, blur_hold)
    src = open_heard(lambda: open_source(source, size=size))
    click.echo(f"segread: looking at {shown_source(source)} with {reader.detector.model_id} on {reader.detector.device_name}",
               err=True)
    seen = look_at(reader, src, lambda: open_source(source, size=size), seconds, most)
    for line in seen.report(reader.fmt):  # before the frame is saved: one it cannot save loses none of it
        click.echo(line, err=True)
    save(seen, reader.fmt, Path(out))
    click.echo(f"saved {out}", err=True)
    ctx.exit(0 if seen.verdicts["accepted"] else 1)


def _said_read(reader, log, camera, skipped: list[list[str]]) -> None:
    """`segread read`'s closing lines: the frames it could not read (each source opened), then what
    it read."""
    corrupt = [name for names in skipped for name in names]
    if corrupt:
        click.echo(f"segread: skipped {len(corrupt)} unreadable image(s): {', '.join(corrupt[:5])}"
                   f"{', ...' if len(corrupt) > 5 else ''}", err=True)
    s = reader.stats
    click.echo(
        f"frames {s.frames}  read {s.read}  accepted {s.accepted}"
        f"{f' ({log.withdrawn} withdrawn from the log: a track that was never the time)' if log.withdrawn else ''}"
        f"  held {s.held}  skipped {s.skipped} "
        f"(dedup: {reader.dedup.skipped_interval} interval, {reader.dedup.skipped_same} unchanged)  "
        f"{s.fps:.1f} fps  finds {reader.tracker.finds}"
        f"{f'  outages {camera.outages}  dropped {camera.dropped}' if camera and (camera.outages or camera.dropped) else ''}",
        err=True,
    )
    if s.read >= 10 and s.blind * 2 >= s.read:  # the camera does not see the display: aiming it is the fix
        click.echo(f"segread: hint: no digits found in {s.blind} of {s.read} frames read; "
                   f"`segread look {log.source}` shows what the camera sees", err=True)
    elif s.blurred * 2 >= s.read > 0:  # out of focus: its readings were held, not guessed
        from edge.focus import NOISY_GLARE

        light = f"light the display ({NOISY_GLARE}), or " if reader.focus.noisy else ""
        click.echo(f"segread: hint: {s.blurred} of {s.read} frames held as blurred: {light}focus the camera on the display, or "
                   f"move it back past its closest focus; `segread look {log.source}` shows its focus (--blur-hold 0 reads "
                   "on regardless)", err=True)


@cli.group(invoke_without_command=True)
@click.option("--db", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False))
@click.pass_context
def sessions(ctx, db):
    """List logged rowing sessions; `segread sessions export ID --csv` writes one.

    \b
    Example:
      segread sessions --db segread.db
      segread sessions --db segread.db export 3 --csv > workout.csv
    """
    from edge.reading import show_value
    from edge.store import list_sessions, open_db, show_when
    from edge.writer import writer_gone

    ctx.obj["db"] = db
    if ctx.invoked_subcommand is None:
        rows = list_sessions(open_db(db, readonly=True))
        if not rows:
            click.echo("no sessions")
        for s in rows:
            # Read-only, it cannot close a session whose writer is gone; the next `read` or `serve` will.
            status = "open (writer gone)" if s["status"] == "open" and writer_gone(s.get("writer")) else s["status"]
            click.echo(
                f"{s['id']:>4}  {show_when(s['started_at'])}  {show_value(s['first_value'], s['format'])} -> "
                f"{show_value(s['last_value'], s['format'])}  {s['readings']:>5} readings  {status}  {s['source']}"
            )


@sessions.command("export")
@click.argument("session_id", type=int)
@click.option("--csv", "as_csv", is_flag=True, help="CSV (default).")
@click.option("--json", "as_json", is_flag=True, help="JSON.")
@click.option("--tcx", "as_tcx", is_flag=True, help="TCX (Garmin Training Center; Strava and Garmin Connect import it).")
@click.option("--all", "include_held", is_flag=True, help="Include held readings.")
@click.option("--start-at", "start_at", default=None, metavar="WHEN",
              help="With --tcx: the workout began at WHEN (YYYY-MM-DD HH:MM[:SS], local time, or ISO 8601 with "
                   "its offset), each point where the display puts it: for a folder or video recorded earlier.")
@click.pass_context
def sessions_export(ctx, session_id, as_csv, as_json, as_tcx, include_held, start_at):
    """Write one session's readings to stdout as CSV, JSON or TCX.

    \b
      segread sessions export 3 --tcx > workout.tcx
      segread sessions export 3 --tcx --start-at "2026-12-01 07:30" > workout.tcx
    """
    import datetime as dt

    from edge.store import SQLITE_IDS, open_db

    if as_csv + as_json + as_tcx > 1:
        raise click.UsageError("choose one of --csv, --json and --tcx")
    if start_at is not None:
        if not as_tcx:
            raise click.UsageError("--start-at goes with --tcx (CSV and JSON keep the times the frames were read)")
        try:
            start_at = dt.datetime.fromisoformat(start_at.strip()).timestamp()  # a naive time is local
        except ValueError:
            raise click.BadParameter(f"{start_at!r} is no date and time: give YYYY-MM-DD HH:MM[:SS]",
                                     param_hint="--start-at") from None
    db = open_db(ctx.obj["db"], readonly=True)
    session = db["sessions"].get(session_id) if session_id in SQLITE_IDS and db["sessions"].count_where(
        "id = ?", [session_id]) else None
    if session is None:
        raise click.ClickException(f"no session {session_id}")
    from edge.export_tcx import export_rows, session_csv, session_tcx

    if as_tcx:
        tcx = session_tcx(db, session_id, start_at, warn=lambda said: click.echo(f"segread: warning: {said}", err=True))
        click.echo(tcx, nl=False)
        return
    if as_json:
        session.pop("writer", None)  # which process on which host wrote it: this machine's business only
        click.echo(json.dumps({"session": session, "readings": export_rows(db, session_id, include_held)}, indent=2))
        return
    click.echo(session_csv(db, session_id, include_held), nl=False)


@sessions.command("close")
@click.argument("session_id", type=int)
@click.option("--force", is_flag=True, help="Close it even where its writer may still run (another host's, known to be gone).")
@click.pass_context
def sessions_close(ctx, session_id, force):
    """Close an open session whose writer is gone, as `interrupted`.

    `read` and `serve` close such sessions when they start; this is for one nothing will start
    again for (a service taken down after it was killed). Its readings stay as they are.

    \b
      segread sessions close 3
    """
    from edge.store import close_session, open_db

    if close_session(open_db(ctx.obj["db"]), session_id, force=force):
        click.echo(f"closed session {session_id} as interrupted; segread sessions export {session_id} writes it")
    else:
        click.echo(f"session {session_id} is closed already")


def main(argv=None) -> int:
    """Entry point: a user's mistake is one line on stderr and exit code 2; --debug shows tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        # Without standalone mode, click returns a command's ctx.exit(code) instead of raising.
        rc = cli.main(args=args, prog_name="segread", standalone_mode=False, obj={})
    except SegreadError as exc:
        if debug:
            raise
        click.echo(f"segread: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("segread: aborted", err=True)
        return 130
    except click.UsageError as exc:  # a wrong option or argument: click's usage hint helps
        exc.show()
        return 2
    except click.ClickException as exc:
        click.echo(f"segread: error: {exc.format_message()}", err=True)
        return 2 if exc.exit_code in (1, 2) else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
