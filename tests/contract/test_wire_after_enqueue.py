"""What the client routes leave in Redis, read back at the wire level (wire-format.md 3, 4.1,
5.1, 6.1): defaults in the TaskMessage, integer scores, the unique lock and its lifetime."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from runqy.broker.codec import decode_task
from tests.server.conftest import ADMIN, configure

Q = "imgs.default"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def stored(redis_client: Any, task_id: str) -> Any:
    return decode_task(redis_client.hget(f"asynq:{{{Q}}}:t:{task_id}", "msg"))


def add(client: Any, **body: Any) -> dict[str, Any]:
    response = client.post("/queue/add", headers=ADMIN, json={"queue": "imgs", **body})
    assert response.status_code == 200, response.json
    return response.json["info"]


def test_defaults_reach_the_task_message(client, queue, redis_client):
    info = add(client, data={"a": 1})
    msg = stored(redis_client, info["id"])
    assert UUID4.fullmatch(msg.id)
    assert (msg.type, msg.queue, msg.payload) == (Q, Q, b'{"a":1}')
    assert (msg.retry, msg.timeout, msg.retention, msg.deadline) == (3, 1800, 86400, 0)
    assert not msg.unique_key and not msg.group_key
    pending_since = int(redis_client.hget(f"asynq:{{{Q}}}:t:{msg.id}", "pending_since"))
    assert abs(pending_since / 1e9 - time.time()) < 60  # nanoseconds (ground rule 3)


def test_queue_task_defaults_then_request_options(client, redis_client):
    configure(client, "imgs", task_defaults={"timeout": 60, "max_retry": 7, "retention": 10})
    msg = stored(redis_client, add(client, data=1)["id"])
    assert (msg.retry, msg.timeout, msg.retention) == (7, 60, 10)
    msg = stored(redis_client, add(client, data=1, timeout=5, max_retry=0, retention=0)["id"])
    assert (msg.retry, msg.timeout, msg.retention) == (0, 5, 0)


def test_batch_defaults_apply_to_raw_and_nested_jobs(client, queue, redis_client):
    response = client.post("/queue/add-batch", headers=ADMIN, json={
        "queue": "imgs", "timeout": 120, "max_retry": 2,
        "jobs": [{"url": "a"}, {"data": {"url": "b"}, "timeout": 600}, {"data": 3}]})
    ids = response.json["task_ids"]
    got = [(m.timeout, m.retry, m.retention) for m in (stored(redis_client, i) for i in ids)]
    assert got == [(120, 2, 86400), (600, 2, 86400), (120, 2, 86400)]


def test_scheduled_score_is_the_integer_due_time(client, queue, redis_client):
    info = add(client, data=1, process_at="2099-01-01T01:00:00+01:00")
    assert info["state"] == "scheduled"
    assert info["next_process_at"] == "2099-01-01T00:00:00Z"
    score = redis_client.zscore(f"asynq:{{{Q}}}:scheduled", info["id"])
    assert score == 4070908800 and score.is_integer()  # ground rule 3


def test_scheduled_unique_lock_lives_until_due_time_plus_ttl(client, queue, redis_client):
    info = add(client, data={"u": 1}, process_in=100, unique_ttl=50)
    msg = stored(redis_client, info["id"])
    checksum = hashlib.md5(b'{"u":1}', usedforsecurity=False).hexdigest()  # the asynq lock name
    assert msg.unique_key == f"asynq:{{{Q}}}:unique:{Q}:{checksum}"
    assert redis_client.get(msg.unique_key) == info["id"].encode()
    assert 145 <= redis_client.ttl(msg.unique_key) <= 150
    assert redis_client.hget(f"asynq:{{{Q}}}:t:{info['id']}", "unique_key") == \
        msg.unique_key.encode()
