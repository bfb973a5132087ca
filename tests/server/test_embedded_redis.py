"""The embedded Redis: AOF and password, adopting a live leftover, refusing old binaries."""

from __future__ import annotations

import pytest
import redis

from runqy.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from tests.support.redis_server import free_port, redis_server_binary


def test_start_adopt_and_stop(tmp_path):
    port = free_port()
    first = EmbeddedRedis(tmp_path, port, redis_server_binary()).start()
    try:
        client = redis.Redis.from_url(first.url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        client.set("kept", "1")
        # A server killed without stopping Redis leaves it running: the next start adopts it.
        second = EmbeddedRedis(tmp_path, port, redis_server_binary()).start()
        assert second.adopted_pid == first.process.pid
        second.stop()
        assert first.process.wait(10) == 0
        first.process = None
        third = EmbeddedRedis(tmp_path, port, redis_server_binary()).start()
        assert redis.Redis.from_url(third.url).get("kept") == b"1"
        third.stop()
    finally:
        first.stop()


def test_old_or_missing_binaries_are_refused_with_a_hint(tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'Redis server v=5.0.7 sha=00000000:0 malloc=jemalloc'\n")
    fake.chmod(0o755)
    for binary, hint in ((str(fake), "older than Redis 6.2"),
                         (str(tmp_path / "none"), "RUNQY_REDIS_SERVER_BIN")):
        with pytest.raises(EmbeddedRedisError, match=hint):
            EmbeddedRedis(tmp_path / "i", free_port(), binary).start()
