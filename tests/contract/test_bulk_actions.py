"""`POST /api/queues/<queue>/tasks/all` works in chunks of 500 (http-api.md 7.2: "so Redis is
never blocked for long"), and still reaches every task of the state.

The chunking is observed on the real Redis through its per-command statistics: one script
call per chunk.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import ADMIN

Q = "imgs.default"
TASKS = 1201  # three chunks: 500, 500, 201
CHUNK = 500


def script_calls(redis_client: Any) -> int:
    """Script calls that ran (a NOSCRIPT answer before the script is loaded does not count)."""
    stats = redis_client.info("commandstats")
    return sum(entry.get("calls", 0) - entry.get("failed_calls", 0)
               for entry in (stats.get(f"cmdstat_{name}", {}) for name in ("evalsha", "eval")))


def fill(client: Any, **options: Any) -> list[str]:
    response = client.post("/queue/add-batch", headers=ADMIN, json={
        "queue": "imgs", "jobs": [{"data": {"n": i}, **options} for i in range(TASKS)]})
    assert response.json["enqueued"] == TASKS, response.json["errors"][:3]
    return response.json["task_ids"]


@pytest.mark.parametrize("action, state, options, target", [
    ("delete", "pending", {}, None),
    ("archive", "scheduled", {"process_in": 600}, "archived"),
    ("run", "scheduled", {"process_in": 600}, "pending"),
])
def test_bulk_action_runs_in_chunks_of_500_and_reaches_every_task(
        client, queue, redis_client, action, state, options, target):
    ids = fill(client, **options)
    before = script_calls(redis_client)
    response = client.post(f"/api/queues/{Q}/tasks/all", headers=ADMIN,
                           json={"action": action, "state": state})
    assert response.status_code == 200, response.json
    assert response.json == {"action": action, "state": state, "count": TASKS}
    assert script_calls(redis_client) - before >= -(-TASKS // CHUNK)
    assert redis_client.zcard(f"asynq:{{{Q}}}:{state}") == 0
    assert redis_client.llen(f"asynq:{{{Q}}}:pending") == (TASKS if target == "pending" else 0)
    if target is None:
        assert not redis_client.exists(*(f"asynq:{{{Q}}}:t:{i}" for i in ids[:100]))
    else:
        assert redis_client.hget(f"asynq:{{{Q}}}:t:{ids[-1]}", "state") == target.encode()
