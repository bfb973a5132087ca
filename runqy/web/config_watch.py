"""`--watch`: reload the queue YAML directory 500 ms after the last change to a file."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import Flask

from runqy.core.queue_configs import ConfigDirError, apply_config_dir
from runqy.web.state import core

log = logging.getLogger("runqy.web.config_watch")
POLL_SECONDS = 0.25
QUIET_SECONDS = 0.5


class ConfigWatcher:
    """A polling thread (no inotify dependency) comparing file names, sizes and mtimes."""

    def __init__(self, app: Flask, directory: Path) -> None:
        self.app = app
        self.directory = directory
        self._stop = threading.Event()
        self.reloads_attempted = 0
        self._initial: dict[str, tuple[int, int]] = {}
        self._thread = threading.Thread(target=self._run, name="runqy-config-watch", daemon=True)

    def _snapshot(self) -> dict[str, tuple[int, int]]:
        snapshot = {}
        for path in [*self.directory.glob("*.yaml"), *self.directory.glob("*.yml")]:
            try:
                stat = path.stat()
            except OSError:
                continue
            snapshot[path.name] = (stat.st_mtime_ns, stat.st_size)
        return snapshot

    def _run(self) -> None:
        seen = self._initial
        pending_since: float | None = None
        elapsed = 0.0
        while not self._stop.wait(POLL_SECONDS):
            elapsed += POLL_SECONDS
            current = self._snapshot()
            if current != seen:
                seen, pending_since = current, elapsed
            elif pending_since is not None and elapsed - pending_since >= QUIET_SECONDS:
                pending_since = None
                self._reload()

    def _reload(self) -> None:
        self.reloads_attempted += 1
        with self.app.app_context():
            try:
                result = apply_config_dir(core(), self.directory)
                log.info("queue configuration reloaded: %s", result)
            except ConfigDirError as exc:
                log.error("queue configuration not reloaded: %s", "; ".join(exc.problems))
            except Exception:  # the watcher must survive any fault and see the next edit
                log.exception("queue configuration not reloaded")

    def start(self) -> None:
        # Snapshot before returning, so a change made right after start() is seen as a change.
        self._initial = self._snapshot()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
