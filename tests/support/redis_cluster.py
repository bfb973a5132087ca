"""A throwaway Redis Cluster for tests: three masters with one replica each, on loopback.

Six ``redis-server --cluster-enabled yes`` children on free ports, joined with
``redis-cli --cluster create ... --cluster-replicas 1``; ``start`` returns once every node says
``cluster_state:ok`` and every replica is in sync, or raises after ``timeout`` seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from tests.support.redis_server import RedisServer, free_port

NODE_TIMEOUT_MS = 2000  # short, so that a killed master's replica takes over within seconds


def cluster_tools() -> tuple[str, str]:
    """redis-server (7.0+: ``--cluster-port``) and redis-cli from PATH; the test is skipped
    without them (scripts/test.sh installs Debian's redis-server, which brings both)."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        pytest.skip("a Redis Cluster needs redis-server and redis-cli on PATH")
    return server, cli


class RedisClusterNodes:
    """Six nodes; after ``start``, ``masters()``/``replicas()`` say who is what right now."""

    def __init__(self, masters: int = 3, timeout: float = 30.0) -> None:
        self.timeout = timeout
        args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                # a replica takes over however long it was cut off from its master
                "--cluster-replica-validity-factor", "0")
        # an explicit bus port: the default (port + 10000) overflows for high free ports
        server, self.cli = cluster_tools()
        self.nodes = [RedisServer(server, extra_args=(*args, "--cluster-port", str(free_port())))
                      for _ in range(masters * 2)]

    @property
    def url(self) -> str:
        """The ``redis-cluster://`` URL runqy reads, naming one node (the rest are found)."""
        return f"redis-cluster://127.0.0.1:{self.nodes[0].port}"

    @property
    def startup_nodes(self) -> str:
        """``REDIS_CLUSTER_NODES``: every node, comma separated."""
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterNodes:
        deadline = time.monotonic() + self.timeout
        try:
            for node in self.nodes:
                node.start(timeout=self.timeout)
            create = [self.cli, "--cluster", "create",
                      *(f"127.0.0.1:{n.port}" for n in self.nodes),
                      "--cluster-replicas", "1", "--cluster-yes"]
            subprocess.run(create, check=True, capture_output=True, timeout=self.timeout)
            self.wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, deadline: float) -> None:
        """Until every live node says cluster_state:ok and every master has a synced replica."""
        while not self._healthy():
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not become healthy in time")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            for node in self.live_nodes():
                with node.client() as client:
                    if client.cluster("info")["cluster_state"] != "ok":
                        return False
                    if client.info("replication")["role"] == "master":
                        continue
                    if client.info("replication").get("master_link_status") != "up":
                        return False
            return len(self.masters()) * 2 == len(self.live_nodes())
        except redis.RedisError:
            return False

    def restart_stopped(self) -> None:
        """Start every node a test stopped or killed: it rejoins (its nodes.conf is kept), as a
        replica if its slots were taken over meanwhile."""
        for node in self.nodes:
            if node.process is None:
                node.start(timeout=self.timeout)

    def live_nodes(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.process is not None]

    def _role(self, node: RedisServer) -> str:
        with node.client() as client:
            return client.info("replication")["role"]

    def masters(self) -> list[RedisServer]:
        return [n for n in self.live_nodes() if self._role(n) == "master"]

    def replicas(self) -> list[RedisServer]:
        return [n for n in self.live_nodes() if self._role(n) == "slave"]

    def slot_table(self) -> list[tuple[int, int, int]]:
        """(first slot, last slot, master port) as the live masters see it now."""
        with self.masters()[0].client() as client:
            return [(start, end, int(master[1]))
                    for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS")]

    def master_of_slot(self, slot: int) -> RedisServer:
        """The live node serving ``slot`` as a master right now."""
        port = next(p for start, end, p in self.slot_table() if start <= slot <= end)
        return next(n for n in self.live_nodes() if n.port == port)

    def master_of_key(self, key: str) -> RedisServer:
        return self.master_of_slot(key_slot(key.encode()))

    def queues_on_every_master(self, parent: str, count: int) -> list[str]:
        """``count`` queue names ``parent.qN`` spread evenly over the masters (by slot)."""
        table = self.slot_table()
        ports = sorted({port for _, _, port in table})
        chosen: dict[int, list[str]] = {port: [] for port in ports}
        wanted = -(-count // len(ports))
        i = 0
        while sum(map(len, chosen.values())) < count:
            name = f"{parent}.q{i}"
            slot = key_slot(name.encode())
            port = next(p for start, end, p in table if start <= slot <= end)
            if len(chosen[port]) < wanted:
                chosen[port].append(name)
            i += 1
        return sorted(n for names in chosen.values() for n in names)

    def node_id(self, node: RedisServer) -> str:
        with node.client() as client:
            return client.execute_command("CLUSTER", "MYID").decode()

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.nodes[0].port)

    def flushall(self) -> None:
        for node in self.masters():
            with node.client() as client:
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
