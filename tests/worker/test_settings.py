"""Worker configuration: precedence, expansion, validation and the CLI (protocol rows 1-5)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runqy.worker.registration import Registration, RegistrationError
from runqy.worker.runner import group_queues
from runqy.worker.settings import ConfigError, load_settings, parse_duration, parse_size

ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = {"RUNQY_SERVER_URL": "http://127.0.0.1:3000", "RUNQY_API_KEY": "k" * 20,
            "RUNQY_QUEUES": "app"}


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return str(path)


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "runqy.worker.cli", *args], capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})}, cwd=cwd,
        timeout=30,
    )


def test_row1_missing_server_url_exits_2(tmp_path):
    done = run_cli("--api-key", "x" * 20, "--queue", "app", cwd=tmp_path)
    assert done.returncode == 2
    assert "config error: server.url is required" in done.stderr


def test_row2_environment_overrides_the_file(tmp_path):
    path = write_config(tmp_path, "worker:\n  concurrency: 1\n")
    settings = load_settings({}, {**BASE_ENV, "RUNQY_CONCURRENCY": "4"}, path)
    assert settings.concurrency == 4
    assert load_settings({"concurrency": 7}, {**BASE_ENV, "RUNQY_CONCURRENCY": "4"},
                         path).concurrency == 7


@pytest.mark.parametrize("value", [None, ""])
def test_row3_default_expansion_when_unset_or_empty(tmp_path, value):
    path = write_config(tmp_path, "server:\n  url: ${RQ_URL:-http://fallback:3000}\n"
                                  "  api_key: $${literal}\n")
    env = {"RUNQY_QUEUES": "app"} | ({} if value is None else {"RQ_URL": value})
    settings = load_settings({}, env, path)
    assert settings.server_url == "http://fallback:3000"
    assert settings.api_key == "${literal}"


def test_row4_unknown_key_and_invalid_duration_are_named(tmp_path):
    path = write_config(tmp_path, "worker:\n  concurency: 2\n  shutdown_timeout: 5 minutes\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, BASE_ENV, path)
    text = str(caught.value)
    assert "unknown key 'worker.concurency'" in text and "concurrency" in text
    assert "invalid duration '5 minutes'" in text
    done = run_cli("--config", path, env=BASE_ENV)
    assert done.returncode == 2 and "worker.concurency" in done.stderr


def test_row5_validate_never_contacts_the_server(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    good = write_config(tmp_path, f"server:\n  url: {url}\n  api_key: secret-key-123456\n"
                                  "worker:\n  queues: [app, imgs.high]\n")
    done = run_cli("--config", good, "--validate")
    assert done.returncode == 0, done.stderr
    assert "Configuration is valid" in done.stdout
    assert "secret-key-123456" not in done.stdout and "secr…3456" in done.stdout
    bad = write_config(tmp_path, f"server:\n  url: {url}\nworker:\n  concurrency: 300\n")
    done = run_cli("--config", bad, "--validate")
    assert done.returncode == 2
    assert "server.api_key is required" in done.stderr
    assert "concurrency must be 1-256" in done.stderr
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def test_explicit_missing_config_file_is_an_error_and_deprecated_keys_warn(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, BASE_ENV, str(tmp_path / "nope.yml"))
    path = write_config(tmp_path, "worker:\n  queue: legacy\n  active_timeout: 10\n")
    settings = load_settings({}, {k: v for k, v in BASE_ENV.items() if k != "RUNQY_QUEUES"},
                             path)
    assert settings.queues == ("legacy",)
    assert any("worker.active_timeout" in w for w in settings.warnings)


def test_version_flag():
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("runqy 0.3.0 (Python 3.")


def test_value_parsers():
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5
    assert parse_duration(12) == 12 and parse_duration("2h") == 7200
    assert parse_size("32MiB") == 32 * 1024**2 and parse_size("1KB") == 1000
    with pytest.raises(ValueError):
        parse_duration("10x")


def test_queue_grouping_parent_form_wins_and_parents_sorted():
    assert group_queues(["imgs.high", "inference", "imgs.low", "inference.fast"]) == {
        "imgs": {"imgs.high", "imgs.low"}, "inference": None}
    assert list(group_queues(["b", "a.x"])) == ["a", "b"]


def test_registration_answer_missing_a_field_names_it():
    good = {"redis": {"url": "redis://127.0.0.1:6379/0"},
            "sub_queues": [{"name": "app.default", "priority": 1}],
            "deployment": {"path": "/srv/app", "startup_cmd": "python main.py"}}
    assert Registration.from_answer("app", good).sub_queues == (("app.default", 1),)
    with pytest.raises(RegistrationError, match="lacks redis.url"):
        Registration.from_answer("app", {**good, "redis": {}})
    with pytest.raises(RegistrationError, match="lacks deployment.startup_cmd"):
        Registration.from_answer("app", {**good, "deployment": {"path": "/srv/app"}})
    with pytest.raises(RegistrationError, match="malformed sub_queues"):
        Registration.from_answer("app", {**good, "sub_queues": [{"name": "x", "priority": "hi"}]})
