"""`segread serve`, `segread check-config`, `segread status`, `segread retrain-ready`."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from edge.errors import StoreError
from edge.store import open_readonly

config_argument = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False),
    help="Service configuration, .toml or .json (see systemd/segread.toml).",
)


@contextmanager
def reload_on_sighup(reload: threading.Event):
    """SIGHUP sets `reload`; the loop reloads the config and the model between frames."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGHUP, lambda *_: reload.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


@click.command()
@config_argument
@click.option("--quiet", is_flag=True, help="No live status line on stderr.")
def serve(config_path, quiet):
    """Run the reader as a service: read until SIGTERM, reopen a failing camera, pick up new models.

    SIGHUP reloads the config file and the model. Under systemd (Type=notify) it reports readiness
    after the first model warm-up and pings the watchdog from the frame loop.

    \b
    Example:
      segread serve --config /etc/segread/segread.toml
      kill -HUP $(pidof segread)    # reload config and model
    """
    from edge.run import LiveLine, stop_on_signals
    from edge.service.config import load_config
    from edge.service.service import Service

    cfg = load_config(config_path)
    stop, reload = threading.Event(), threading.Event()
    live = None if quiet else LiveLine(every=cfg.status.live_every_s)
    service = Service(cfg, Path(config_path), live=live)
    with stop_on_signals(stop), reload_on_sighup(reload):
        service.run(stop, reload)
    if not service.started:
        click.echo("segread: stopped while waiting for the database: nothing was read", err=True)
        return
    s = service.reader.stats
    click.echo(
        f"segread: stopped: frames {s.frames} read {s.read} accepted {s.accepted} held {s.held} skipped {s.skipped} "
        f"dropped {service.camera.dropped} outages {service.camera.outages}", err=True,
    )


@click.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--show", is_flag=True, help="Print the full config with every default filled in, as JSON.")
def check_config(path, show):
    """Validate a service config file without running anything.

    \b
    Example:
      segread check-config /etc/segread/segread.toml
    """
    from edge.capture import shown_source
    from edge.service.config import load_config

    cfg = load_config(path)
    if show:
        click.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))
    click.echo(f"{path}: ok (source {shown_source(cfg.source.spec)}, model {cfg.model.pointer}, database {cfg.database})", err=True)
    spec = cfg.source.spec
    if not spec.isdigit() and "://" not in spec and not Path(spec).exists():  # valid, yet maybe a typo
        click.echo(f"{path}: warning: source {spec} does not exist (yet); the service waits for it as an outage", err=True)


@click.command()
@click.option("--db", default=None, type=click.Path(dir_okay=False), help="Session database [default: segread.db].")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="Take the database path from this service config.")
@click.option("--events", default=5, show_default=True, type=click.IntRange(0), help="How many recent events to show.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def status(db, config_path, events, as_json):
    """What a running service is doing: its heartbeat, current session, last reading, recent events.

    \b
    Example:
      segread status --db /var/lib/segread/segread.db
      segread status --config /etc/segread/segread.toml --json
    """
    from edge.service.status import format_status, read_status

    if config_path:
        from edge.service.config import load_config

        db = db or str(load_config(config_path).database)
    database = open_readonly(Path(db or "segread.db"))
    try:
        info = read_status(database, events=events)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read database {db}: {exc}") from None
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    for line in format_status(info):
        click.echo(line)


@click.command("retrain-ready")
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="Session log whose review queue counts: items answered (accepted, fixed, imported) since the last retrain.")
@click.option("--data", type=click.Path(file_okay=False), default=None, help="Folder of returned labels (YOLO .txt files).")
@click.option("--models", default="models", show_default=True, type=click.Path(file_okay=False),
              help="Models folder; labels newer than its last retrain (newest card, here or in candidates/, "
                   "or its `current` pointer) count as new.")
@click.option("--min-new", default=200, show_default=True, type=click.IntRange(1), help="New labels needed to retrain.")
@click.pass_context
def retrain_ready(ctx, db, data, models, min_new):
    """Exit 0 when enough new labels came back to retrain, 1 otherwise (for systemd ExecCondition=).

    A retrain whose candidate was kept aside used the labels before it too: only labels newer than
    the last retrain count, so a night without new answers does not train on the same set again.

    \b
    Example:
      segread retrain-ready --db /var/lib/segread/segread.db --models /var/lib/segread/models --min-new 50
      segread retrain-ready --data /var/lib/segread/labels --models /var/lib/segread/models --min-new 200
    """
    if db is None and data is None:
        raise click.UsageError("give --db (the review queue), --data (a labels folder), or both")
    if not Path(models).is_dir():  # a typo would count every label ever as new: a retrain every night
        raise click.BadParameter(f"no models folder {models}", param_hint="--models")
    since = last_retrain(Path(models))
    new, absent = 0, []  # a source not made yet counts none; the line names it, as a typo would be
    if data is not None:
        folder = Path(data)
        labels = [p for p in folder.rglob("*.txt") if p.name != "classes.txt"] if folder.is_dir() else []
        new += sum(1 for p in labels if p.stat().st_mtime > since)
        absent += [] if folder.is_dir() else [f"no labels folder {data} yet"]
    if db is not None:
        new += answered_since(Path(db), since)
        absent += [] if Path(db).is_file() else [f"no database {db} yet"]
    ready = new >= min_new
    click.echo(f"{new} new label(s) since the last retrain, {min_new} needed: {'retrain' if ready else 'not yet'}"
               f"{''.join(f' ({a})' for a in absent)}", err=True)
    if not ready:
        ctx.exit(1)  # the exit status is the answer (ExecCondition: 1 skips the unit quietly)


def last_retrain(models: Path) -> float:
    """When the models folder last changed by a retrain: its newest card (promoted or kept aside),
    or its `current` pointer; 0 for an empty folder."""
    marks = [*models.glob("*.json"), *models.glob("candidates/*.json"), models / "current"]
    return max((p.stat().st_mtime for p in marks if p.is_file()), default=0.0)


def answered_since(db_path: Path, since: float) -> int:
    """Review items with labels (accepted, fixed or imported) whose last decision came after `since`;
    0 before the service has made its database or queued anything."""
    if not db_path.is_file():
        return 0
    database = open_readonly(db_path)
    try:
        if not database["review_items"].exists():
            return 0
        (count,) = database.execute(
            "SELECT COUNT(*) FROM review_items i WHERE i.status IN ('accepted', 'fixed') AND "
            "(SELECT MAX(d.wall) FROM review_decisions d WHERE d.item_id = i.id) > ?", [since]
        ).fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read database {db_path}: {exc}") from None
    finally:
        database.close()
    return int(count)
