"""`runqy worker`: the click command (worker-protocol.md section 2)."""

from __future__ import annotations

import json
import logging
import platform
import signal
import sys
import threading
from typing import Any

import click

from runqy import __version__
from runqy.worker.processes import run_processes
from runqy.worker.runner import Worker
from runqy.worker.settings import ConfigError, WorkerSettings, load_settings

EXIT_CONFIG = 2


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"ts": self.formatTime(record), "level": record.levelname.lower(),
                           "logger": record.name, "message": record.getMessage()})


def _configure_logging(settings: WorkerSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("runqy")
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())


def version_text() -> str:
    return f"runqy {__version__} (Python {platform.python_version()})"


@click.command("worker")
@click.option("--config", "config_path", help="Config file (default ./config.yml).")
@click.option("--server", "server_url", help="Server base URL.")
@click.option("--api-key", "api_key", help="Worker or admin API key.")
@click.option("--queue", "queues", multiple=True, help="Parent or parent.sub; repeatable.")
@click.option("--concurrency", type=int, help="Slots per parent queue (1-256).")
@click.option("--processes", type=int, help="Worker processes, each with its own slots (1-64).")
@click.option("--shutdown-timeout", "shutdown_timeout", help="Drain time at shutdown (30s).")
@click.option("--worker-id", "worker_id", help="Heartbeat identity.")
@click.option("--deployment-dir", "deployment_dir", help="Where checkouts and venvs live.")
@click.option("--log-level", "log_level", help="debug, info, warning or error.")
@click.option("--validate", is_flag=True, help="Check the configuration and exit.")
@click.option("--version", "show_version", is_flag=True, help="Print the version and exit.")
def worker(validate: bool, show_version: bool, config_path: str | None, **flags: Any) -> None:
    """Serve queues: register, deploy the task code and run it in supervised processes."""
    if show_version:
        click.echo(version_text())
        sys.exit(0)
    try:
        settings = load_settings(flags, config_path=config_path)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG)
    for warning in settings.warnings:
        click.echo(f"config warning: {warning}", err=True)
    if validate:
        click.echo("Configuration is valid")
        for line in settings.summary():
            click.echo(line)
        sys.exit(0)
    _configure_logging(settings)
    if settings.processes > 1:
        sys.exit(run_processes(settings, _run_worker))
    sys.exit(_run_worker(settings))


def _run_worker(settings: WorkerSettings) -> int:
    runner = Worker(settings)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: runner.request_stop())
    return runner.run()


if __name__ == "__main__":
    worker()
