"""The systemd units as an installer runs them: every segread command line in them parses with the
installed CLI, and the retrain writes where the reader looks for its model."""

from __future__ import annotations

import configparser
import shlex
import warnings
from pathlib import Path

import click
import pytest

from edge.cli import cli
from edge.models import DEFAULT_MODELS_DIR, read_card, resolve_model
from edge.service.config import load_config

SYSTEMD = Path(__file__).resolve().parents[3] / "systemd"
UNITS = sorted(SYSTEMD.glob("*.service"))


def exec_lines(unit: Path) -> dict[str, list[str]]:
    """Exec*= key -> argv, for a unit without repeated Exec keys (these units have none)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(unit)
    return {key: shlex.split(value) for key, value in parser["Service"].items() if key.startswith("Exec")}


def rest(ctx: click.Context) -> list[str]:
    """A group's arguments after its own options: the subcommand and its arguments (Click 8 keeps
    the subcommand apart, in a deprecated attribute; Click 9 in `args`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*getattr(ctx, "protected_args", []), *ctx.args]


def parse(argv: list[str]) -> tuple[str, dict]:
    """A segread argv -> (command path, its parsed parameters), without running it: a missing or
    misspelt option, or a bad value, raises click's usage error."""
    ctx = cli.make_context("segread", argv[1:])
    command, names = cli, []
    while isinstance(command, click.Group):
        name, command, args = command.resolve_command(ctx, rest(ctx))
        names.append(name)
        ctx = command.make_context(name, list(args), parent=ctx)
    return " ".join(names), ctx.params


def segread_commands(unit: Path) -> dict[str, tuple[str, dict]]:
    return {key: parse(argv) for key, argv in exec_lines(unit).items() if Path(argv[0]).name == "segread"}


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_every_segread_command_in_a_unit_parses(unit):
    commands = segread_commands(unit)
    assert commands, f"{unit.name} runs no segread command"


def test_the_nightly_retrain_trains_into_the_models_folder_the_reader_follows():
    reader = load_config(SYSTEMD / "segread.toml")
    models = Path(reader.model.pointer).parent
    retrain = segread_commands(SYSTEMD / "segread-retrain.service")
    ready, export, train = (retrain[k] for k in ("ExecCondition", "ExecStartPre", "ExecStart"))
    assert ready[0] == "retrain-ready" and Path(ready[1]["models"]) == models
    assert Path(ready[1]["db"]) == Path(reader.database)  # counts the reader's review answers
    assert export[0] == "review export" and export[1]["status"] == "answered"
    assert train[0] == "retrain" and Path(train[1]["models_dir"]) == models
    # the answers it exported train, and only as corrections (never in the frozen test split)
    assert [Path(p) for p in train[1]["corrections"]] == [Path(export[1]["out"])]
    assert Path(export[1]["out"]) not in [Path(p) for p in train[1]["data"]]
    # everything the retrain writes is in the state directory both units own
    state = Path("/var/lib/segread")
    for path in (train[1]["models_dir"], train[1]["runs_dir"], export[1]["out"]):
        assert state in Path(path).parents, path


def test_the_units_that_share_the_state_directory_give_it_one_mode():
    # Each start sets the directory's mode to its own unit's: a unit without one would open the
    # session log's folder (0755, systemd's default) every night.
    def service(unit):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str
        parser.read(unit)
        return parser["Service"]

    owners = [service(u) for u in UNITS if "StateDirectory" in service(u)]
    assert len(owners) == 2 and {s["StateDirectory"] for s in owners} == {"segread"}
    assert [s.get("StateDirectoryMode") for s in owners] == ["0750", "0750"]


def test_the_nightly_retrain_keeps_the_shipped_models_recipe():
    """A nightly model trained without the degraded copies would lose glare, which the gate does not judge."""
    card = read_card(resolve_model(DEFAULT_MODELS_DIR))
    _, train = segread_commands(SYSTEMD / "segread-retrain.service")["ExecStart"]
    assert (train["synthetic"], train["crops_per_image"], train["degraded_per_image"], train["distant_per_image"]) == (
        card["data"]["synthetic"], card["data"]["crops_per_photo"], card["data"]["degraded_per_crop"],
        card["data"]["distant_per_photo"])
    assert (train["imgsz"], train["crop_size"], train["lr0"]) == (
        card["training"]["imgsz"], card["training"]["crop_size"], card["training"]["lr0"])
