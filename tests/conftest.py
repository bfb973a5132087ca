"""Shared fixtures: one real throwaway Redis for the session, flushed before each test, and one
Redis Cluster for the tests that need one."""

from __future__ import annotations

import time

import pytest

from tests.support.redis_cluster import RedisClusterNodes
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture()
def redis_client(redis_server):
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_cluster():
    """Three masters with a replica each, built once (six servers and a `--cluster create`
    take seconds), used through `cluster` (or as a broker test's `redis_server`)."""
    cluster = RedisClusterNodes().start()
    yield cluster
    cluster.stop()


@pytest.fixture()
def cluster(redis_cluster):
    """The session's cluster, whole and healthy (every master with a synced replica), empty."""
    redis_cluster.restart_stopped()
    redis_cluster.wait_healthy(time.monotonic() + redis_cluster.timeout)
    redis_cluster.flushall()
    return redis_cluster
