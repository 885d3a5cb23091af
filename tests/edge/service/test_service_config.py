"""The service config file, `segread check-config`, the sd_notify module and `retrain-ready`."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from edge.cli import main
from edge.errors import ConfigError
from edge.service.config import ServiceConfig, load_config
from edge.service.systemd import Notifier

GOOD_TOML = """
database = "state/segread.db"
[source]
spec = "0"
fps = 15
[dedup]
min_interval = 0.5
[queue]
per_hour = 30
[camera]
stall_s = 8
"""


def test_toml_and_json_load_with_defaults_and_paths_resolved_against_the_file(tmp_path):
    toml = tmp_path / "segread.toml"
    toml.write_text(GOOD_TOML)
    cfg = load_config(toml)
    assert cfg.source.fps == 15 and cfg.source.is_live() and cfg.camera.stall_s == 8
    assert cfg.database == tmp_path / "state" / "segread.db" and cfg.frames_dir == tmp_path / "frames"
    assert cfg.queue.select_kwargs()["max_per_hour"] == 30
    js = tmp_path / "segread.json"
    js.write_text(json.dumps({"source": {"spec": str(tmp_path)}, "reader": {"format": "digits:5"}}))
    assert load_config(js).reader.format == "digits:5" and not load_config(js).source.is_live()


@pytest.mark.parametrize(
    "text, key",
    [
        ('[source]\nspec = "0"\nfsp = 10\n', "unknown key 'source.fsp'"),
        ('colour = "red"\n', "unknown key 'colour'"),
        ('[camera]\nstall_s = -1\n', "camera.stall_s"),
        ('[reader]\nformat = "clock"\n', "reader.format: unknown display format 'clock'"),
        ('[dedup]\nmin_interval = 6\nmax_interval = 5\n', "dedup: max_interval 5 is less than min_interval 6"),
        ('[camera]\nbackoff_min = 10\nbackoff_max = 1\n', "camera: backoff_max 1 is less than backoff_min 10"),
        ('[limits]\nmax_queued_frames = 0\n', "limits.max_queued_frames is 0 while queue.enabled"),
        ('[session]\nexport = ["gpx"]\n', "session.export.0"),
        ('[model]\ndevice = "tpu"\n', "model.device"),
        ('[source\n', "not valid TOML"),
        ('[limits]\nmax_db_mb = inf\n', "limits.max_db_mb: Input should be a finite number"),
        ('[queue]\nper_hour = 99999999999999999999\n', "queue.per_hour: Input should be less than or equal to"),
        ('[reader]\nlevel = "yes"\n', "reader.level: Input should be a valid boolean"),
        ('[reader]\nblur_hold = true\n', "reader.blur_hold: a number, the share of a digit's height (0.16; 0: never), not true"),
        ('[reader]\nblur_hold = "0.2"\n', "reader.blur_hold: a number"),
        ('[reader]\nblur_hold = 1.5\n', "reader.blur_hold: Input should be less than or equal to 1"),
    ],
)
def test_bad_configs_are_refused_naming_the_key_on_one_line(tmp_path, text, key):
    path = tmp_path / "segread.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert key in message and "\n" not in message and message.startswith(str(path))


def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path):
    # Windows' Notepad saves UTF-8 with a BOM.
    for name, text in (("a.toml", "[reader]\nlevel = false\n"), ("a.json", '{"reader": {"level": false}}')):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert load_config(tmp_path / name).reader.level is False


def test_every_field_has_a_description():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            if isinstance(field.default_factory, type):
                walk(field.default_factory)

    walk(ServiceConfig)


def test_check_config_command(tmp_path, capsys):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD_TOML)
    bad.write_text("[queue]\nrandom_rate = 2\n")
    assert main(["check-config", str(good), "--show"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["camera"]["stall_s"] == 8 and "ok" in out.err
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "queue.random_rate" in err[0]
    assert main(["check-config", str(tmp_path / "missing.toml")]) == 2


def test_check_config_warns_of_a_source_folder_that_is_not_there(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(f'[source]\nspec = "{tmp_path / "frmaes"}"\n')
    assert main(["check-config", str(path)]) == 0  # valid: a folder may come later, as a camera may
    err = capsys.readouterr().err
    assert f"warning: source {tmp_path / 'frmaes'} does not exist (yet)" in err
    path.write_text('[source]\nspec = "0"\n')
    assert main(["check-config", str(path)]) == 0 and "warning" not in capsys.readouterr().err


def test_notifier_is_silent_without_notify_socket():
    n = Notifier(environ={})
    assert not n.enabled and not n.ready() and not n.watchdog(force=True)


def test_notifier_sends_to_an_abstract_socket_and_throttles_watchdog_pings():
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"segread-unit-{os.getpid()}-{time.monotonic_ns()}"
    server.bind("\0" + name)
    server.settimeout(2)
    now = [0.0]
    n = Notifier(environ={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "2000000"}, clock=lambda: now[0])
    try:
        assert n.watchdog_s == 2.0
        assert n.ready(status="warm")
        assert server.recv(512).decode().split("\n")[0] == "READY=1"
        assert n.watchdog() and not n.watchdog()  # at most one ping per half interval
        now[0] = 1.01
        assert n.watchdog()
        assert server.recv(512) == b"WATCHDOG=1" and server.recv(512) == b"WATCHDOG=1"
        n.extend_start(25, "waiting for the database")
        assert server.recv(512) == b"EXTEND_TIMEOUT_USEC=25000000\nSTATUS=waiting for the database"
        n.stopping()
        assert server.recv(512) == b"STOPPING=1"
    finally:
        n.close()
        server.close()


def test_watchdog_meant_for_another_process_is_ignored():
    n = Notifier(environ={"NOTIFY_SOCKET": "/nonexistent/sock", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert n.watchdog_s is None and not n.watchdog()
    assert not n.ready()  # the manager is gone: sending fails quietly


def test_retrain_ready_counts_labels_newer_than_the_current_model(tmp_path):
    models, data = tmp_path / "models", tmp_path / "labels"
    models.mkdir()
    data.mkdir()
    (data / "old.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    old = time.time() - 100
    os.utime(data / "old.txt", (old, old))
    (models / "current").write_text("m\n")
    os.utime(models / "current", (old + 50, old + 50))
    for i in range(3):
        (data / f"new{i}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (data / "classes.txt").write_text("1\n")
    args = ["retrain-ready", "--data", str(data), "--models", str(models)]
    assert main(args + ["--min-new", "3"]) == 0
    assert main(args + ["--min-new", "4"]) == 1


def test_retrain_ready_refuses_a_models_folder_that_is_not_there_and_names_a_missing_source(tmp_path, capsys):
    # A typo in the unit's --models would count every label ever as new: retrain every night.
    assert main(["retrain-ready", "--data", str(tmp_path), "--models", str(tmp_path / "modles")]) == 2
    assert "modles" in capsys.readouterr().err
    (tmp_path / "models").mkdir()
    assert main(["retrain-ready", "--db", str(tmp_path / "nope.db"), "--models", str(tmp_path / "models")]) == 1
    assert f"(no database {tmp_path / 'nope.db'} yet)" in capsys.readouterr().err
