"""The worker against a real Redis with real task processes (path deployments)."""

from __future__ import annotations

import json

from tests.worker.harness import enqueue, fast_settings, poll_until, registration, running_worker, task_info


def test_echo_task_completes_with_result(redis_server, redis_client, deployment_dir):
    settings = fast_settings(deployment_dir)
    with running_worker(settings, registration(redis_server.url)):
        task_id = enqueue(redis_client, "app.default", {"op": "echo", "value": 42})
        poll_until(lambda: task_info(redis_client, "app.default", task_id).state == "completed",
                   timeout=20, what="completion")
    info = task_info(redis_client, "app.default", task_id)
    assert json.loads(info.result)["echo"] == 42
