"""The known data set the dashboard pages are checked against, made by the real broker.

Builds on the metrics tests' `fill_queue` (tasks reach each state through real transitions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from runqy.broker import Broker, ServerInfo, WorkerInfo, keys
from runqy.worker.heartbeat import worker_fields
from tests.metrics.dataset import fill_queue, message

IMAGES_HIGH = "images.high"
IMAGES_LOW = "images.low"
MAIL = "mail.default"
SCRIPT_PAYLOAD = b'{"note": "<script>window.__pwned = 1</script>"}'


@dataclass
class Known:
    """Queue names and the numbers pages must show."""

    pending: int
    active: int
    retry: int
    archived: int
    completed: int
    scheduled: int
    processed_today: int
    failed_today: int
    script_task_id: str
    active_task_id: str


def build(client: redis.Redis) -> Known:
    broker = Broker(client)
    high = fill_queue(broker, IMAGES_HIGH, pending=3, active=1, scheduled=2, retry=1,
                      archived=2, completed=4)
    low = fill_queue(broker, IMAGES_LOW, pending=25)
    mail = fill_queue(broker, MAIL, archived=1)
    script = message(MAIL)
    script.payload = SCRIPT_PAYLOAD
    broker.enqueue(script)
    active_id = client.lindex(keys.active(IMAGES_HIGH), 0).decode()
    now = int(time.time())
    write_worker(broker, "worker-a", healthy=True, active=active_id, beat=now)
    write_worker(broker, "worker-b", healthy=True, active="", beat=now - 120)  # stale
    broker.write_server_heartbeat(
        ServerInfo(host="gohost", pid=77, server_id="go-server-1", concurrency=4,
                   queues={MAIL: 1}, strict_priority=False, status="active",
                   active_worker_count=1),
        [WorkerInfo(host="gohost", pid=77, server_id="go-server-1", task_id="go-task-1",
                    task_type="mail.default", queue=MAIL)],
    )
    return Known(
        pending=high.pending + low.pending + 1, active=high.active, retry=high.retry,
        archived=high.archived + mail.archived, completed=high.completed,
        scheduled=high.scheduled,
        processed_today=high.processed_total + mail.processed_total,
        failed_today=high.failed_total + mail.failed_total,
        script_task_id=script.id, active_task_id=active_id,
    )


def write_worker(broker: Broker, worker_id: str, *, healthy: bool, active: str,
                 beat: int) -> None:
    """A heartbeat as the real worker writes it (its own field builder), last seen at `beat`."""
    fields = worker_fields(
        worker_id=worker_id, started_at=beat - 600, healthy=healthy, status="running",
        queues_in_order=[IMAGES_HIGH, IMAGES_LOW], priorities={IMAGES_HIGH: 10, IMAGES_LOW: 1},
        active_tasks=[active] if active else [], concurrency=2,
        metrics={"cpu_percent": 12.5, "memory_used_bytes": 1048576,
                 "memory_total_bytes": 8388608, "collected_at": beat},
        recovery={"state": "idle", "consecutive_fails": 0, "total_restarts": 2},
    )
    log = {"ts": beat * 1000, "src": "stderr", "text": f"{worker_id} <b>booted</b>", "seq": 1}
    broker.write_worker_heartbeat(worker_id, {**fields, "last_beat": str(beat)}, [log])
