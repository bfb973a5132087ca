"""A known data set for the /metrics tests, written through the real broker into a real Redis.

`build_known_dataset(redis)` returns what a scrape must report for it; `fill_queue(...)` is the
building block (bench/metrics.py uses it for its 100 queues).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import redis

from runqy.broker import Admin, Broker, TaskMessage, keys
from tests.broker.factories import task

ALPHA = "metrics.alpha"
PAUSED = "metrics.paused"
BROKEN = "metrics.broken"
OLDEST_PENDING_AGE = 42.0


def message(queue: str, *, retention: int = 0, max_retry: int = 3) -> TaskMessage:
    return task(str(uuid.uuid4()), queue, retention=retention, retry=max_retry, timeout=60)


@dataclass
class QueueCounts:
    """What the scrape must say about one queue."""

    pending: int = 0
    active: int = 0
    scheduled: int = 0
    retry: int = 0
    archived: int = 0
    completed: int = 0
    aggregating: int = 0
    processed_total: int = 0
    failed_total: int = 0
    paused: bool = False

    def state(self, name: str) -> int:
        return getattr(self, name)


def fill_queue(broker: Broker, queue: str, *, pending: int = 0, active: int = 0,
               scheduled: int = 0, retry: int = 0, archived: int = 0, completed: int = 0,
               aggregating: int = 0) -> QueueCounts:
    """Put tasks into `queue` in each state through real transitions (enqueue, dequeue, ...)."""
    now = int(time.time())
    finishing = [("completed", completed), ("retry", retry), ("archived", archived),
                 ("active", active)]
    for _ in range(sum(n for _, n in finishing) + pending):
        broker.enqueue(message(queue, retention=3600))
    for outcome, n in finishing:
        for _ in range(n):
            taken = broker.dequeue([queue])
            assert taken is not None and taken.queue == queue
            if outcome == "completed":
                broker.mark_complete(taken.msg)
            elif outcome == "retry":
                broker.retry(taken.msg, "boom", now + 3600)
            elif outcome == "archived":
                broker.archive(taken.msg, "dead")
    for _ in range(scheduled):
        broker.enqueue(message(queue), process_at=now + 3600)
    for _ in range(aggregating):
        broker.enqueue(message(queue), group="batch")
    return QueueCounts(
        pending=pending, active=active, scheduled=scheduled, retry=retry, archived=archived,
        completed=completed, aggregating=aggregating,
        processed_total=completed + retry + archived, failed_total=retry + archived,
    )


@dataclass
class KnownDataset:
    queues: dict[str, QueueCounts]
    broken_queue: str
    workers: dict[str, int] = field(default_factory=dict)  # runqy_workers status -> count


def write_heartbeat(broker: Broker, worker_id: str, *, status: str, healthy: bool,
                    age: int = 0) -> None:
    """A runqy worker heartbeat (wire-format.md 8.2) `age` seconds old."""
    now = int(time.time()) - age
    broker.write_worker_heartbeat(worker_id, {
        "worker_id": worker_id,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
        "started_at": str(now - 60),
        "last_beat": str(now),
        "healthy": "true" if healthy else "false",
        "queue": ALPHA,
        "active_task": "",
        "concurrency": "1",
        "status": status,
        "metrics": "{}",
        "recovery": '{"state": "idle", "consecutive_fails": 0, "total_restarts": 0}',
        "queues": f"map[{ALPHA}:1]",
    })


def build_known_dataset(client: redis.Redis) -> KnownDataset:
    """Two readable queues (one paused), one unreadable queue and four workers."""
    broker = Broker(client)
    alpha = fill_queue(broker, ALPHA, pending=2, active=1, scheduled=3, retry=1, archived=2,
                       completed=4, aggregating=1)
    # The oldest pending task sits at the right end of the list; age it to a known latency.
    oldest = client.lindex(keys.pending(ALPHA), -1).decode()
    client.hset(keys.task_key(ALPHA, oldest), "pending_since",
                str(time.time_ns() - int(OLDEST_PENDING_AGE * 1e9)))
    paused = fill_queue(broker, PAUSED, pending=5)
    Admin(client).pause_queue(PAUSED)
    paused.paused = True
    # A queue in the queue set whose pending list has the wrong type: reading it fails.
    client.sadd(keys.QUEUES, BROKEN)
    client.set(keys.pending(BROKEN), b"not a list")

    write_heartbeat(broker, "w-running-1", status="running", healthy=True)
    write_heartbeat(broker, "w-running-2", status="running", healthy=True)
    write_heartbeat(broker, "w-booting", status="bootstrapping", healthy=False)
    write_heartbeat(broker, "w-degraded", status="degraded", healthy=False)
    write_heartbeat(broker, "w-silent", status="running", healthy=True, age=120)
    # An original Go runqy worker (wire-format.md 8.3): listed in asynq:workers, healthy as
    # 1/0 and no status field; healthy counts it as running.
    go_worker = "gohost:4242"
    client.zadd(keys.WORKERS, {go_worker: int(time.time()) + 30})
    client.hset(keys.runqy_worker(go_worker), mapping={
        "healthy": "1", "last_beat": str(int(time.time())), "queues": f"map[{ALPHA}:1]",
        "concurrency": "1",
    })
    return KnownDataset(
        queues={ALPHA: alpha, PAUSED: paused},
        broken_queue=BROKEN,
        workers={"running": 3, "bootstrapping": 1, "unhealthy": 1, "stale": 1},
    )
