"""Names and IDs are checked whole: a trailing newline is a bad character (http-api.md 1).

Python's `re.match` with a `$` anchor accepts one trailing "\\n"; the contract's patterns mean
the whole string, and wire-format.md section 2 forbids whitespace in queue names (hash tags).
"""

from __future__ import annotations

import pytest

from tests.server.conftest import ADMIN, VAULT_KEY, deployment, redis_keys


def test_task_id_with_trailing_newline_is_refused_and_nothing_is_written(client, queue,
                                                                          redis_client):
    before = redis_keys(redis_client)
    response = client.post("/queue/add", headers=ADMIN,
                           json={"queue": "imgs", "data": 1, "task_id": "abc\n"})
    assert response.status_code == 400
    assert response.json["code"] == "invalid_request"
    assert redis_keys(redis_client) == before


@pytest.mark.parametrize("name", ["imgs.default\n", "imgs\n"])
def test_queue_name_with_trailing_newline_is_an_invalid_queue_name(client, queue, name):
    response = client.post("/queue/add", headers=ADMIN, json={"queue": name, "data": 1})
    assert response.status_code == 400
    assert response.json["code"] == "invalid_queue_name"


@pytest.mark.parametrize("doc", [
    {"name": "evil\n"},
    {"name": "ev2", "sub_queues": [{"name": "s\n", "priority": 1}]},
])
def test_queue_config_names_with_trailing_newline_are_invalid(client, redis_client, doc):
    response = client.post("/api/queue-configs", headers=ADMIN,
                           json={"deployment": deployment(), **doc})
    assert response.status_code == 422
    assert response.json["code"] == "invalid_config"
    assert not redis_client.smembers("asynq:queues")


def test_sub_queue_route_refuses_a_name_with_trailing_newline(client, queue, redis_client):
    response = client.put("/api/queue-configs/imgs/sub-queues/x%0A", headers=ADMIN,
                          json={"priority": 1, "enabled": True})
    assert response.status_code in (400, 422)
    assert redis_client.smembers("asynq:queues") <= {b"imgs.default"}


def test_vault_name_and_entry_key_with_trailing_newline_are_invalid(make_app):
    client = make_app(vault_master_key=VAULT_KEY).test_client()
    response = client.post("/api/vaults", headers=ADMIN, json={"name": "hf\n"})
    assert response.status_code == 422, response.json
    assert client.post("/api/vaults", headers=ADMIN, json={"name": "hf"}).status_code == 201
    response = client.post("/api/vaults/hf/entries", headers=ADMIN,
                           json={"key": "TOKEN\n", "value": "x"})
    assert response.status_code == 422, response.json
