"""A Redis failure never tells the client, nor the server log, where Redis is (issue 13 defect 9):
redis-py's text says "Error 111 connecting to <host>:<port>", and any key holder, client role
included, used to read it in the 503 body."""

from __future__ import annotations

import logging

import pytest

from tests.broker.proxy import CuttingProxy
from tests.server.conftest import ADMIN, CLIENT, configure
from tests.support.redis_server import free_port


def assert_hides(port: int, *texts: str) -> None:
    for text in texts:
        assert str(port) not in text and "localhost" not in text and "127.0.0.1" not in text, text


@pytest.fixture()
def server_log(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_redis_down_answers_a_generic_503_everywhere(make_app, server_log):
    port = free_port()
    client = make_app(redis_url=f"redis://localhost:{port}/0").test_client()
    answers = [client.get("/api/queues", headers=ADMIN),
               client.get("/queue/0123456789abcdef", headers=CLIENT),
               client.get("/healthz")]
    for response in answers:
        assert response.status_code == 503, response.data
        assert response.json["code"] == "redis_unavailable"
        assert "redis: connection refused" in response.json["errors"]
        assert_hides(port, response.get_data(as_text=True))
    assert_hides(port, server_log.text)
    # The operator still learns what failed.
    assert "ConnectionError (Connection refused)" in server_log.text


def test_connection_lost_mid_enqueue_hides_the_address(make_app, redis_server, server_log):
    with CuttingProxy(redis_server.port, 0, start=b"EVALSHA", first=False) as proxy:
        client = make_app(redis_url=f"redis://127.0.0.1:{proxy.port}/0").test_client()
        configure(client, "imgs")
        response = client.post("/queue/add", headers=CLIENT,
                               json={"queue": "imgs", "data": {"n": 1}})
        assert proxy.cut.is_set()
    assert response.status_code == 503 and response.json["code"] == "redis_unavailable"
    assert "may or may not have been written" in response.json["errors"][0]
    assert_hides(proxy.port, response.get_data(as_text=True), server_log.text)
