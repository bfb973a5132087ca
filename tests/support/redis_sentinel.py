"""A throwaway Redis Sentinel setup for tests: one master, one replica, three sentinels.

The data nodes are ``RedisServer`` children (the replica with ``--replicaof``); each sentinel
is ``redis-server <conf> --sentinel`` with its own writable config file (sentinels rewrite it).
``start`` returns once the replica is in sync and every sentinel knows the master, its replica
and the two other sentinels, or raises after ``timeout`` seconds.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.redis_server import RedisServer, free_port, redis_server_binary, stop_process

MASTER_NAME = "runqymaster"
DOWN_AFTER_MS = 1000


class SentinelProcess:
    def __init__(self, master_port: int) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="runqy-test-sentinel-"))
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 4000\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), str(self.conf), "--sentinel"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=0.5, decode_responses=True)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


class RedisSentinelSetup:
    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.master = RedisServer()
        self.replica = RedisServer(extra_args=("--replicaof", "127.0.0.1", str(self.master.port)))
        self.sentinels = [SentinelProcess(self.master.port) for _ in range(3)]

    @property
    def url(self) -> str:
        """asynq's URI form: ``redis-sentinel://host:port,host:port/0?master=NAME``."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis-sentinel://{hosts}/0?master={MASTER_NAME}"

    def start(self) -> RedisSentinelSetup:
        deadline = time.monotonic() + self.timeout
        try:
            self.master.start(timeout=self.timeout)
            self.replica.start(timeout=self.timeout)
            for sentinel in self.sentinels:
                sentinel.start()
            self._wait(self._ready, deadline, "the Sentinel setup did not become ready")
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, condition, deadline: float, message: str) -> None:
        while True:
            try:
                if condition():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(message)
            time.sleep(0.1)

    def _ready(self) -> bool:
        with self.replica.client() as replica:
            if replica.info("replication").get("master_link_status") != "up":
                return False
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                master = client.sentinel_master(MASTER_NAME)
                if master["num-slaves"] < 1 or master["num-other-sentinels"] < 2:
                    return False
        return True

    def master_port(self) -> int:
        """The port of the master the sentinels name now."""
        with self.sentinels[0].client() as client:
            return int(client.sentinel_get_master_addr_by_name(MASTER_NAME)[1])

    def current_master(self) -> RedisServer:
        port = self.master_port()
        return next(n for n in (self.master, self.replica) if n.port == port)

    def wait_master_change(self, old_port: int, timeout: float = 30.0) -> int:
        """Until every sentinel names a new master that answers as one; returns its port."""
        deadline = time.monotonic() + timeout

        def switched() -> bool:
            ports = set()
            for sentinel in self.sentinels:
                if sentinel.process is None:
                    continue
                with sentinel.client() as client:
                    ports.add(int(client.sentinel_get_master_addr_by_name(MASTER_NAME)[1]))
            if len(ports) != 1 or old_port in ports:
                return False
            with redis.Redis(port=ports.pop()) as new:
                return new.info("replication")["role"] == "master"

        self._wait(switched, deadline, "the sentinels did not elect a new master in time")
        return self.master_port()

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.master.stop()
