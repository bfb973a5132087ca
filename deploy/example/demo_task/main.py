"""Demo task for the compose stack: sleeps a little and fails on request, so the dashboards and
alerts have something to show.

Enqueue with:
    curl -H "Authorization: Bearer $RUNQY_API_KEY" -d '{"queue": "demo", "data": {"sleep": 0.2}}' \
        http://127.0.0.1:3000/queue/add
Add `"fail": true` to the data: the task fails, is retried twice (max_retry in
deploy/example/queues/demo.yaml), then archived, which moves the error-rate charts and alerts.
"""

import time

from runqy import RetryableError, run, task


@task
def handle(payload: dict) -> dict:
    time.sleep(float(payload.get("sleep", 0.1)))
    if payload.get("fail"):
        raise RetryableError("asked to fail")
    return {"slept": payload.get("sleep", 0.1)}


if __name__ == "__main__":
    run()
