"""Per-minute throughput counters: bumped by the finishing transitions themselves, in runqy's
own keys (the asynq keys stay as Go writes them), kept 48 h, summed over queues by minute."""

from __future__ import annotations

import time

from runqy.broker import keys
from runqy.broker.throughput import per_minute, regroup
from tests.broker.factories import task


def finish(broker, queue: str, how: str, n: int = 1) -> None:
    for i in range(n):
        broker.enqueue(task(f"{queue}-{how}-{i}", queue, retention=60 if how == "keep" else 0))
        msg = broker.dequeue([queue]).msg
        if how == "keep":
            broker.mark_complete(msg)
        elif how == "done":
            broker.done(msg)
        elif how == "retry":
            broker.retry(msg, "boom", int(time.time()) + 60)
        elif how == "retry-no-failure":
            broker.retry(msg, "later", int(time.time()) + 60, is_failure=False)
        else:
            broker.archive(msg, "dead")


def test_finishing_transitions_count_per_minute(broker, inspector, redis_client):
    now = int(time.time())
    finish(broker, "tp.a", "keep", 2)
    finish(broker, "tp.a", "done")
    finish(broker, "tp.a", "retry")
    finish(broker, "tp.a", "retry-no-failure")  # not an attempt that failed: not counted
    finish(broker, "tp.b", "archive")
    later = int(time.time())
    buckets = per_minute(inspector, ["tp.a", "tp.b"], now - 120, later)
    assert sum(b.processed for b in buckets) == 5 and sum(b.failed for b in buckets) == 2
    assert [b.start for b in buckets] == list(range(now - 120 - now % 60, later + 1, 60))[
        :len(buckets)]
    only_b = per_minute(inspector, ["tp.b"], now, later)
    assert (sum(b.processed for b in only_b), sum(b.failed for b in only_b)) == (1, 1)
    hour = keys.throughput("tp.a", now)
    assert hour.startswith("runqy:{tp.a}:")
    assert 48 * 3600 < redis_client.ttl(hour) <= 49 * 3600
    hourly = regroup(buckets, 3600)
    assert sum(b.processed for b in hourly) == 5 and all(b.start % 3600 == 0 for b in hourly)
