"""Shared fixtures: one real throwaway Redis for the session, flushed before each test."""

from __future__ import annotations

import pytest

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
