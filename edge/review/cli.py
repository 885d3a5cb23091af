"""`segread review`: answer the queued frames from the terminal, export them, import corrections."""

from __future__ import annotations

from pathlib import Path

import click

from edge.errors import ReviewError
from edge.review import items as queue_items
from edge.review.suggest import show as show_suggestion
from edge.store import open_db, show_when

DEFAULT_DB = "segread.db"


def _open(ctx, readonly: bool = False):
    """The queue's database; `readonly` for the commands that only look (a person in the service's
    group may list and show its queue)."""
    path = ctx.obj["review_db"]
    if not Path(path).exists():
        raise ReviewError(f"no database at {path}; `segread read SOURCE --queue --db {path}` creates the queue")
    return open_db(path, readonly=readonly)


def _line(item) -> str:
    read = item.display.show(item.text) if item.text else "--"
    return (
        f"{item.id:>5}  {item.status:<8}  read {read:<6}  suggest {show_suggestion(item.suggestion, item.display):<16}  "
        f"{item.frame}  {item.reasons}"
    )


@click.group()
@click.option("--db", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False),
              help="SQLite session log holding the queue.")
@click.option("--who", default=None, help="Name recorded with each decision [default: your login name].")
@click.pass_context
def review(ctx, db, who):
    """Review the frames the reader was unsure of: list, show, accept, fix, skip, export, import.

    \b
    Example:
      segread review list
      segread review fix 12 0757
      segread review export labeled/ --status answered   # then: segread retrain --data DIGITS --corrections labeled/
    """
    ctx.ensure_object(dict)
    ctx.obj["review_db"] = db
    ctx.obj["who"] = who or queue_items.who_default()


@review.command("list")
@click.option("--status", default="pending", show_default=True, type=click.Choice(queue_items.STATUS_CHOICES),
              help="Which items: pending, answered (accepted or fixed), all, or one status.")
@click.option("--order", default=None, type=click.Choice(queue_items.ORDERS),
              help="queued: as they were queued; spread: any first N lie evenly across the queue (answer those first) "
                   "[default: spread for pending items, else queued].")
@click.pass_context
def list_cmd(ctx, status, order):
    """List queued items: id, status, what was read, the suggestion, the frame and why it was queued.

    Pending items are listed spread across the queue: the first ones lie evenly over it, so a few
    answers cover the whole session rather than its first bad minute. Answer from the top.

    \b
    Example:
      segread review list | head -40
      segread review list --status all
      segread review list --order queued
    """
    rows = queue_items.list_items(_open(ctx, readonly=True), status, order or queue_items.default_order(status))
    if not rows:
        click.echo(f"no {status} items" if status != "all" else "the queue is empty")
    for item in rows:
        click.echo(_line(item))


@review.command()
@click.argument("item_id", type=int)
@click.option("--image", "image_out", default=None, type=click.Path(dir_okay=False),
              help="Also write the display, enlarged, with its labels boxed (.png or .jpg), to check them by eye.")
@click.pass_context
def show(ctx, item_id, image_out):
    """Show one item: frame, image path, pre-labels left to right, suggestion and every decision.

    \b
    Example:
      segread review show 12
      segread review show 12 --image item.png    # the display enlarged, its pre-labels boxed
    """
    from edge.review.queue import image_path

    if image_out is not None and Path(image_out).suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise click.BadParameter(f"{image_out}: a .png or .jpg", param_hint="--image")
    db = _open(ctx, readonly=True)
    item = queue_items.get_item(db, item_id)
    fmt = item.display
    click.echo(f"item {item.id}  {item.status}  queued {show_when(item.created, seconds=True)}  session {item.session_id or '-'}")
    click.echo(f"frame {item.frame}  t {item.t}  model {item.model or '-'}")
    click.echo(f"image {image_path(db, item.image)}  ({item.width}x{item.height})")
    click.echo(f"why   {item.reasons}")
    click.echo(f"read  {fmt.show(item.text) if item.text else '--'} ({item.status_read})   suggestion {show_suggestion(item.suggestion, fmt)}")
    click.echo("pre-labels (left to right):")
    for b in queue_items.left_to_right(item.prelabels):
        click.echo(f"  {b['digit']}  conf {b.get('conf', 1.0):.2f}  box {b['xyxy']}")
    labels = queue_items.current_labels(db, item)
    if labels is not item.prelabels:
        click.echo("labels now: " + "".join(b["digit"] for b in queue_items.left_to_right(labels)))
    for d in queue_items.decisions(db, item.id):
        click.echo(f"  {show_when(d['wall'], seconds=True)}  {d['who']}  {d['action']}  {d['digits'] or ''}")
    if image_out is not None:
        _write_zoomed(image_path(db, item.image), queue_items.left_to_right(labels), image_out,
                      "labels now" if labels is not item.prelabels else f"pre-labels of item {item.id}")
    if item.status == "pending":
        hint = item.suggestions[0] if len(item.suggestions) == 1 else "DIGITS"
        click.echo(f"answer: segread review accept {item.id} | fix {item.id} {hint} | skip {item.id}")


def _write_zoomed(frame: Path, labels: list[dict], out: str, title: str) -> None:
    """The display of a queued `frame`, enlarged so a digit is about 120 px tall, with `labels`
    boxed, written to `out`."""
    import numpy as np

    from edge.capture import read_image
    from edge.drawing import HELD, banner, draw_digits, write_image, zoom_on

    image, why = read_image(frame)
    if image is None:
        raise ReviewError(f"cannot draw the item: its frame {frame}: {why}")
    xyxy = np.array([b["xyxy"] for b in labels], np.float32).reshape(-1, 4)
    crop, factor, (x0, y0) = zoom_on(image, xyxy)
    draw_digits(crop, [(((x1 - x0) * factor, (y1 - y0) * factor, (x2 - x0) * factor, (y2 - y0) * factor), b["digit"], b.get("conf"))
                       for b, (x1, y1, x2, y2) in zip(labels, xyxy)], HELD)
    banner(crop, f"{title}: {''.join(b['digit'] for b in labels) or 'no boxes'}")
    write_image(Path(out), crop)
    click.echo(f"wrote {out}: the display at x{factor:.1f}")


@review.command()
@click.argument("item_id", type=int)
@click.pass_context
def accept(ctx, item_id):
    """The pre-labels are right: keep them as the item's labels.

    \b
    Example:
      segread review accept 12
    """
    item = queue_items.accept(_open(ctx), item_id, ctx.obj["who"])
    click.echo(f"item {item.id}: accepted")


@review.command()
@click.argument("item_id", type=int)
@click.argument("digits", required=False)
@click.pass_context
def fix(ctx, item_id, digits):
    """Type the digits the display shows; they go onto the pre-label boxes left to right.

    Without DIGITS the item's suggestion is used when it has exactly one candidate.

    \b
    Example:
      segread review fix 12 0757
      segread review fix 12 07:57
    """
    item = queue_items.fix(_open(ctx), item_id, digits, ctx.obj["who"])
    click.echo(f"item {item.id}: {item.status}")


@review.command()
@click.argument("item_id", type=int)
@click.pass_context
def skip(ctx, item_id):
    """Not worth labeling (no display, unreadable): kept, left out of exports and training.

    \b
    Example:
      segread review skip 12
    """
    item = queue_items.skip(_open(ctx), item_id, ctx.obj["who"])
    click.echo(f"item {item.id}: skipped")


@review.command("export")
@click.argument("out", type=click.Path(file_okay=True))
@click.option("--format", "fmt", default="yolo", show_default=True, type=click.Choice(["yolo", "label-studio", "cvat"]),
              help="yolo folder, Label Studio tasks + config, or a CVAT Ultralytics YOLO Detection 1.0 zip.")
@click.option("--status", default="all", show_default=True, type=click.Choice(["pending", "answered", "all"]),
              help="Which items (skipped ones never): answered items with their decided labels make a training folder.")
@click.option("--order", default=None, type=click.Choice(queue_items.ORDERS),
              help="Order of the items (Label Studio lists its tasks so) [default: spread for pending items, else queued].")
@click.option("--overwrite", is_flag=True, help="Export into a non-empty folder (replacing what an export writes).")
@click.option("--image-url", default=None,
              help="Label Studio: URL prefix the images are served under [default: Label Studio local-files URLs].")
@click.pass_context
def export_cmd(ctx, out, fmt, status, order, overwrite, image_url):
    """Export queued items with their labels (decided, else pre-labels) for a labeling tool or for training.

    \b
    Example:
      segread review export to-label/ --status pending --format label-studio
      segread review export queue.zip --format cvat
      segread review export labeled/ --status answered
      segread retrain --data ../shared/data/digits --corrections labeled/
    """
    from edge.review.export import export

    report = export(_open(ctx), Path(out), fmt, status, overwrite, image_url, order or queue_items.default_order(status))
    for problem in report.problems:
        click.echo(f"segread: {problem}", err=True)
    click.echo(f"exported {len(report.exported)} item(s) to {report.out}")


@review.command("import")
@click.argument("source", type=click.Path())
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Labeled folder (images/ + labels/) the imported items are added to, for `segread retrain --corrections`.")
@click.pass_context
def import_cmd(ctx, source, out):
    """Import corrected labels from a YOLO folder, a CVAT zip or annotations.xml (Ultralytics YOLO,
    or CVAT for images 1.1) or a Label Studio JSON export.

    Items are matched by id (file names item-<id>, Label Studio data.item_id); unknown ids, bad
    lines, missing images and items nobody annotated are reported and the rest imported. Class ids
    of a YOLO folder or zip are read through its classes.txt / obj.names / data.yaml names.

    \b
    Exit codes:
      0  items imported (any problems are listed on stderr), or nothing to import
      1  nothing imported: every entry had a problem (listed on stderr)
      2  the source or the database cannot be used (one line on stderr)

    \b
    Example:
      segread review import project-1-export.json --out labeled/
      segread review import to-label/ --out labeled/
      segread retrain --data ../shared/data/digits --corrections labeled/
    """
    from edge.review.importer import import_labels

    report = import_labels(_open(ctx), Path(source), Path(out), ctx.obj["who"])
    for problem in report.problems:
        click.echo(f"segread: {problem}", err=True)
    click.echo(f"imported {len(report.imported)} item(s) into {report.out}; {len(report.problems)} problem(s)")
    if report.problems and not report.imported:
        ctx.exit(1)  # a script must not take "imported 0" for success
