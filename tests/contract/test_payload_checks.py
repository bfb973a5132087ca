"""The order of the payload checks of http-api.md 5.2: size (413) before the input schema (422)."""

from __future__ import annotations

from tests.server.conftest import ADMIN, configure, redis_keys


def test_an_oversized_payload_is_413_even_when_it_also_fails_the_schema(make_app, redis_client):
    client = make_app(max_payload_size=100).test_client()
    configure(client, "imgs", input_schema=[{"name": "prompt", "type": "string"}])
    before = redis_keys(redis_client)
    response = client.post("/queue/add", headers=ADMIN,
                           json={"queue": "imgs", "data": {"other": "x" * 200}})
    assert response.status_code == 413, response.json
    assert response.json["code"] == "payload_too_large"
    assert redis_keys(redis_client) == before


def test_a_payload_within_the_limit_is_checked_against_the_schema(make_app):
    client = make_app(max_payload_size=100).test_client()
    configure(client, "imgs", input_schema=[{"name": "prompt", "type": "string"}])
    response = client.post("/queue/add", headers=ADMIN, json={"queue": "imgs", "data": {}})
    assert response.status_code == 422
    assert response.json["code"] == "schema_validation_failed"
