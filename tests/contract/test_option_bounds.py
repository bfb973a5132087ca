"""Out-of-range option values are bad input: 400, never a 500, and nothing reaches Redis.

http-api.md section 3: "Bad input never gives a 500". Values past what the wire can hold (int64
protobuf fields, Redis expiry limits, RFC 3339 years up to 9999) used to escape as 500s, some
after the task had already been written.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import ADMIN, deployment, redis_keys

HUGE = 2**70
OUT_OF_RANGE = [
    {"timeout": HUGE},
    {"retention": HUGE},
    {"process_in": 10**15},
    {"process_at": 1e20},
    {"unique_ttl": 2**62},
    {"deadline": 10**13},
    {"deadline": "9999-12-31T23:59:59-01:00"},
    {"process_at": "9999-12-31T23:59:59-01:00"},
]


@pytest.mark.parametrize("option", OUT_OF_RANGE, ids=lambda o: next(iter(o)))
def test_add_refuses_out_of_range_options_without_writing(client, queue, redis_client, option):
    before = redis_keys(redis_client)
    response = client.post("/queue/add", headers=ADMIN,
                           json={"queue": "imgs", "data": {"a": 1}, **option})
    assert response.status_code == 400, response.json
    assert response.json["code"] == "invalid_request"
    assert redis_keys(redis_client) == before


def test_latest_representable_time_is_accepted(client, queue):
    response = client.post("/queue/add", headers=ADMIN, json={
        "queue": "imgs", "data": 1, "process_at": "9999-12-31T23:59:59Z"})
    assert response.status_code == 200, response.json
    assert response.json["info"]["next_process_at"] == "9999-12-31T23:59:59Z"


def test_batch_job_with_out_of_range_option_fails_alone(client, queue, redis_client):
    response = client.post("/queue/add-batch", headers=ADMIN, json={
        "queue": "imgs", "jobs": [{"data": 1}, {"data": 2, "unique_ttl": 2**62}, {"x": 3}]})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["enqueued"] == 2 and body["failed"] == 1
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(1, "invalid_request")]
    for task_id in body["task_ids"]:
        assert client.get(f"/queue/{task_id}", headers=ADMIN).status_code == 200
    assert redis_client.llen("asynq:{imgs.default}:pending") == 2


def test_batch_shared_default_out_of_range_is_a_400(client, queue, redis_client):
    before = redis_keys(redis_client)
    response = client.post("/queue/add-batch", headers=ADMIN,
                           json={"queue": "imgs", "timeout": HUGE, "jobs": [1]})
    assert response.status_code == 400, response.json
    assert response.json["code"] == "invalid_request"
    assert redis_keys(redis_client) == before


@pytest.mark.parametrize("defaults", [{"max_retry": 2**40}, {"timeout": HUGE},
                                      {"retention": HUGE}], ids=lambda d: next(iter(d)))
def test_task_defaults_use_the_add_option_ranges(client, defaults):
    # http-api.md 7.4: task_defaults have "the same ranges as the matching /queue/add options";
    # an accepted out-of-range default would turn every later enqueue into a 500.
    response = client.post("/api/queue-configs", headers=ADMIN, json={
        "name": "imgs", "deployment": deployment(), "task_defaults": defaults})
    assert response.status_code == 422, response.json
    assert response.json["code"] == "invalid_config"
