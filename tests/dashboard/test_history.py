"""The Overview history: sums over queues, finished days cached, today always fresh."""

from __future__ import annotations

import time

from runqy.broker import Broker, Inspector, keys
from runqy.web.monitoring.history import HistoryCache
from tests.metrics.dataset import fill_queue

DAY = 86400


def set_past_counters(client, queue: str, days_ago: int, processed: int, failed: int) -> None:
    when = int(time.time()) - days_ago * DAY
    client.set(keys.processed_daily(queue, when), processed)
    client.set(keys.failed_daily(queue, when), failed)


def test_history_sums_queues_and_keeps_today_fresh(redis_client):
    broker, inspector = Broker(redis_client), Inspector(redis_client)
    fill_queue(broker, "a.default", completed=2, archived=1)  # today: 3 processed, 1 failed
    fill_queue(broker, "b.default", retry=1)  # today: 1 processed, 1 failed
    set_past_counters(redis_client, "a.default", 1, 10, 2)
    set_past_counters(redis_client, "b.default", 1, 5, 0)
    set_past_counters(redis_client, "b.default", 6, 7, 7)
    cache = HistoryCache()

    days = cache.history(inspector, inspector.all_queue_stats(), 7)
    assert [(d.processed, d.failed) for d in days] == [
        (7, 7), (0, 0), (0, 0), (0, 0), (0, 0), (15, 2), (4, 2)]
    assert days[-1].label == time.strftime("%m-%d", time.gmtime())

    fill_queue(broker, "b.default", completed=1)
    set_past_counters(redis_client, "b.default", 1, 500, 0)  # a finished day: cached
    days = cache.history(inspector, inspector.all_queue_stats(), 7)
    assert [(d.processed, d.failed) for d in days[-2:]] == [(15, 2), (5, 2)]

    fill_queue(broker, "c.default", pending=1)  # a new queue set: the cache is bypassed
    days = cache.history(inspector, inspector.all_queue_stats(), 7)
    assert (days[-2].processed, days[-2].failed) == (510, 2)


def test_today_is_the_24_utc_hours_from_the_minute_counters(redis_client):
    broker, inspector = Broker(redis_client), Inspector(redis_client)
    fill_queue(broker, "a.default", completed=1, archived=1)
    hour = time.gmtime().tm_hour
    hours = HistoryCache().history(inspector, inspector.all_queue_stats(), 1)
    assert [d.label for d in hours] == [f"{h:02d}:00" for h in range(24)]
    assert (hours[hour].processed, hours[hour].failed) == (2, 1)
    assert sum(d.processed for d in hours) == 2
