"""`runqy serve` as a real subprocess for tests: start in a folder, read the banner, stop."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.polling import poll_until
from tests.support.redis_server import free_port

CONFIG_PREFIXES = ("REDIS_", "DATABASE_", "RUNQY_", "QUEUE_WORKERS_DIR", "SQLITE_DB_PATH",
                   "PORT", "HOST", "ASYNQ_", "PROMETHEUS_")


class ServeProcess:
    """One `runqy serve` with no configuration but free ports, in `folder` (also HOME);
    `launcher` is a command that execs the rest of its arguments (the server)."""

    def __init__(self, runqy_bin: str, folder: Path, redis_port: int | None = None,
                 args: tuple[str, ...] = (), launcher: tuple[str, ...] = ()) -> None:
        self.runqy_bin = runqy_bin
        self.args = args
        self.launcher = launcher
        self.folder = folder
        self.port = free_port()
        self.redis_port = redis_port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / f"serve-{self.port}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
        env.update(HOME=str(self.folder), PORT=str(self.port),
                   RUNQY_EMBEDDED_REDIS_PORT=str(self.redis_port), PYTHONUNBUFFERED="1")
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServeProcess:
        with self.log.open("wb") as out:
            # Its own process group, so `stop` can end its workers too.
            self.process = subprocess.Popen([*self.launcher, self.runqy_bin, "serve", *self.args],
                                            cwd=self.folder, env=self.env(), stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"runqy serve exited:\n{self.output()}")
            try:
                return self.request("GET", "/health")[0] == 200
            except OSError:
                return False

        poll_until(up, timeout=timeout, what="runqy serve to answer /health")
        poll_until(lambda: "admin key:" in self.output(), timeout=10, what="the banner",
                   interval=0.05)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def admin_key_line(self) -> str:
        match = re.search(r"admin key:\s+(\S+)", self.output())
        assert match, self.output()
        return match.group(1)

    def request(self, method: str, path: str, body: Any = None,
                key: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 - loopback
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def stop(self, timeout: float = 30, signum: int = signal.SIGTERM) -> int:
        """Send `signum` and wait; after `timeout`, SIGKILL. Whatever happened, nothing it
        started outlives this call: its process group (the workers) and its embedded Redis (in
        a session of its own) are killed if still there."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.returncode < 0:  # killed: its Redis was not shut down
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((self.folder / "instance" / "redis" / "redis.pid").read_text()),
                        signal.SIGKILL)
        return self.process.returncode
