"""Saved logins, queue commands in remote and local mode, and how failures read."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
from collections.abc import Iterator

import pytest

from runqy import __version__
from tests.cli.conftest import QUEUES_YAML, RUNQY, Instance
from tests.support.health import answers_health
from tests.support.polling import poll_until
from tests.support.redis_server import free_port, stop_process

LOCAL_NOTICE = "working on the local instance directly"


@pytest.fixture(scope="module")
def dataset(instance: Instance) -> Instance:
    """Queues imgs.high and imgs.low; two tasks pending in imgs.high, one in imgs.low."""
    (instance.folder / "queues.yaml").write_text(QUEUES_YAML)
    instance.ok("config", "create", "-f", "queues.yaml")
    for queue, payload in (("imgs.high", '{"n": 1}'), ("imgs.high", '{"n": 2}'),
                           ("imgs.low", '"text"')):
        instance.ok("task", "enqueue", "-q", queue, "-p", payload)
    return instance


@pytest.fixture()
def stopped(dataset: Instance) -> Iterator[None]:
    """The data set with the module's server stopped; started again after the test."""
    assert dataset.server.stop() == 0
    yield
    dataset.server.start()


def test_login_is_saved_private_and_the_key_is_never_printed(instance: Instance):
    home = instance.folder / "home"
    creds = home / ".config" / "runqy" / "credentials.json"
    wrong = instance.run("login", instance.url, "--api-key", "not-the-key-0123456789")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        "error: a valid API key is required (Authorization: Bearer <key> or X-API-Key) "
        "(401 unauthorized)"]
    assert not creds.exists()

    outputs = [instance.run("login", instance.url, "--name", "prod", "-k", instance.key)]
    assert outputs[0].returncode == 0, outputs[0].stderr
    assert "Logged in to" in outputs[0].stdout and "'prod'" in outputs[0].stdout
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE(creds.parent.stat().st_mode) == 0o700
    assert json.loads(creds.read_text())["servers"]["prod"]["api_key"] == instance.key

    # No -s/-k: the saved login is used, and it is remote (no local notice).
    listed = instance.run("queue", "list")
    outputs.append(listed)
    assert listed.returncode == 0 and LOCAL_NOTICE not in listed.stderr
    for args in (("auth", "list"), ("auth", "list", "-o", "json"), ("auth", "status"),
                 ("auth", "status", "-o", "json")):
        outputs.append(instance.run(*args))
        assert outputs[-1].returncode == 0, (args, outputs[-1].stderr)
    assert "prod" in outputs[2].stdout and "*" in outputs[2].stdout
    status = json.loads(outputs[5].stdout)
    assert status["server"] == instance.url and status["server_source"] == "saved login 'prod'"
    assert status["authenticated"] is True and status["api_key"].startswith(instance.key[:4])
    for result in outputs:
        assert instance.key not in result.stdout + result.stderr
    shown = instance.run("auth", "status", "--show-key")
    assert instance.key in shown.stdout

    # The environment beats the saved login: a wrong RUNQY_API_KEY is used, and refused.
    env_key = instance.run("queue", "list", env=instance.env(RUNQY_API_KEY="wrong-0123456789ab"))
    assert env_key.returncode == 1 and "(401 unauthorized)" in env_key.stderr
    env_server = instance.run("queue", "list", env=instance.env(
        RUNQY_SERVER="http://127.0.0.1:9", RUNQY_API_KEY=instance.key))
    assert env_server.returncode == 1
    assert env_server.stderr.startswith("error: cannot reach the runqy server at "
                                        "http://127.0.0.1:9 ")

    assert instance.run("auth", "use", "nope").returncode == 1
    logout = instance.run("logout", "prod")
    assert logout.returncode == 0 and "No saved login left" in logout.stdout
    assert json.loads(creds.read_text())["servers"] == {}
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600

    # No saved login left: RUNQY_SERVER and RUNQY_API_KEY from .env, as `runqy serve` reads it.
    ops = instance.folder / "ops"
    ops.mkdir()
    (ops / ".env").write_text(f"RUNQY_SERVER={instance.url}\nRUNQY_API_KEY={instance.key}\n")
    status = json.loads(instance.run("auth", "status", "-o", "json", cwd=ops).stdout)
    assert (status["server_source"], status["api_key_source"], status["authenticated"]) == (
        "RUNQY_SERVER in .env", "RUNQY_API_KEY in .env", True)


def test_queue_commands_agree_in_remote_and_local_mode(dataset: Instance):
    table = dataset.ok("queue", "list")
    lines = table.splitlines()
    assert lines[0].split() == ["QUEUE", "PENDING", "ACTIVE", "SCHEDULED", "RETRY", "ARCHIVED",
                                "COMPLETED", "PAUSED"]
    assert lines[1].split() == ["imgs.high", "2", "0", "0", "0", "0", "0", "no"]
    assert lines[2].split() == ["imgs.low", "1", "0", "0", "0", "0", "0", "no"]
    local = dataset.run("queue", "list")
    assert local.returncode == 0 and local.stdout == table
    assert local.stderr.count("\n") == 1 and LOCAL_NOTICE in local.stderr

    remote_json = dataset.json("queue", "list")
    local_json = dataset.json("queue", "list", local=True)
    assert [q["queue"] for q in remote_json["queues"]] == ["imgs.high", "imgs.low"]
    assert remote_json["count"] == 2 and remote_json["queues"][0]["pending"] == 2

    def stable(doc: dict) -> list:  # the read time differs between the two calls
        return [{k: v for k, v in q.items() if k not in ("timestamp", "latency_ms")}
                for q in doc["queues"]]

    assert stable(local_json) == stable(remote_json)

    inspect = dataset.ok("queue", "inspect", "imgs.high")
    for expected in ("Queue:", "imgs.high", "Pending:", "Memory:", "Latency:", "Today:",
                     "processed 0, failed 0", "DATE", "PROCESSED"):
        assert expected in inspect
    history = dataset.json("queue", "inspect", "imgs.high")["history"]
    assert len(history) == 7 and history == dataset.json(
        "queue", "inspect", "imgs.high", "--days", "7", local=True)["history"]

    assert dataset.ok("queue", "pause", "imgs.high") == "Queue imgs.high paused.\n"
    assert dataset.json("queue", "list", local=True)["queues"][0]["paused"] is True
    assert dataset.ok("queue", "unpause", "imgs.high", local=True) == "Queue imgs.high resumed.\n"
    assert dataset.json("queue", "pause", "imgs.low") == {"queue": "imgs.low", "paused": True}
    assert dataset.json("queue", "unpause", "imgs.low") == {"queue": "imgs.low", "paused": False}
    assert "yes" not in dataset.ok("queue", "list")

    # Narrow terminal: every line of the table fits.
    narrow = dataset.run("-s", dataset.url, "-k", dataset.key, "queue", "list",
                         env=dataset.env(COLUMNS="50"))
    assert narrow.returncode == 0 and max(len(line) for line in narrow.stdout.splitlines()) <= 50


def test_failures_are_one_line_with_status_and_code(dataset: Instance):
    expected = "error: queue 'nope.default' is unknown (404 queue_not_found)\n"
    for mode in ("remote", "local"):
        result = (dataset.remote("queue", "inspect", "nope") if mode == "remote"
                  else dataset.run("queue", "inspect", "nope"))
        assert result.returncode == 1, mode
        assert result.stderr.endswith(expected), (mode, result.stderr)
        assert "Traceback" not in result.stderr

    not_empty = dataset.remote("queue", "delete", "imgs.high")
    assert not_empty.returncode == 1 and "(409 queue_not_empty)" in not_empty.stderr
    wrong_key = dataset.run("-s", dataset.url, "-k", "wrong-key-0123456789", "queue", "list")
    assert wrong_key.returncode == 1 and wrong_key.stderr.endswith("(401 unauthorized)\n")
    down = dataset.run("-s", "http://127.0.0.1:9", "queue", "list")
    assert down.returncode == 1
    assert down.stderr.splitlines() == [
        "error: cannot reach the runqy server at http://127.0.0.1:9 (Connection refused)"]
    usage = dataset.remote("queue", "pause")
    assert usage.returncode == 2 and "Missing argument 'QUEUE'" in usage.stderr
    bad_output = dataset.remote("queue", "list", "-o", "yaml")
    assert bad_output.returncode == 2


@pytest.mark.usefixtures("stopped")
def test_local_mode_starts_the_embedded_redis_when_no_server_runs(dataset: Instance):
    result = dataset.run("queue", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert [(q["queue"], q["pending"]) for q in json.loads(result.stdout)["queues"]] == [
        ("imgs.high", 2), ("imgs.low", 1)]
    # Started for the command, stopped after it: nothing is left listening.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", dataset.server.redis_port)) != 0


@pytest.mark.usefixtures("stopped")
def test_runqy_alone_runs_serve(dataset: Instance):
    port = free_port()
    log = dataset.folder / "alone.log"
    with log.open("wb") as out:
        server = subprocess.Popen([RUNQY], cwd=dataset.folder, env=dataset.env(PORT=str(port)),
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        poll_until(lambda: answers_health(port), timeout=60,
                   what="runqy (no subcommand) to serve", alive=server)
        listed = dataset.json("queue", "list", "-s", f"http://127.0.0.1:{port}")
        assert listed["count"] == 2
    finally:
        stop_process(server)
    assert f"runqy {__version__} listening on" in log.read_text()
