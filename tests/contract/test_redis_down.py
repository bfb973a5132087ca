"""A change refused with 503 `redis_unavailable` leaves nothing behind (http-api.md 3 and 7.4):
a client that retries a refused create must not then meet 409 `queue_config_exists`."""

from __future__ import annotations

import socket

from tests.server.conftest import ADMIN, deployment


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_queue_config_create_refused_for_redis_is_not_saved(make_app):
    client = make_app(redis_url=f"redis://127.0.0.1:{closed_port()}/0").test_client()
    body = {"name": "imgs", "deployment": deployment()}
    response = client.post("/api/queue-configs", headers=ADMIN, json=body)
    assert response.status_code == 503 and response.json["code"] == "redis_unavailable"
    assert client.get("/api/queue-configs/imgs", headers=ADMIN).status_code == 404
    again = client.post("/api/queue-configs", headers=ADMIN, json=body)
    assert again.json["code"] == "redis_unavailable"
