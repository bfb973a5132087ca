"""The Overview's task history: from Prometheus when PROMETHEUS_ADDRESS is set, else the daily
processed/failed counters in Redis summed over every queue.

From Redis: today's numbers come with the queue stats the page reads anyway. Finished days no
longer change (counters are only written for the current UTC day), so their sums are cached per
set of queues and reused until the day rolls over or the queue set changes: with 100 queues the
30-day chart would otherwise cost 100 history reads per refresh. Today is shown per hour from the
per-minute throughput counters (runqy.broker.throughput).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from runqy.broker import Inspector, QueueStats
from runqy.broker.throughput import per_minute, regroup
from runqy.metrics.prometheus_api import (
    MIN_STEP,
    PrometheusClient,
    PrometheusError,
    TimeRange,
    bucket_growth_query,
    notice,
    selector,
)
from runqy.web.monitoring.charts import DayCount

HOUR, DAY = 3600, 86400
COUNTERS = (("processed", "asynq_tasks_processed_total"), ("failed", "asynq_tasks_failed_total"))

CacheKey = tuple[frozenset[str], int, date]


class HistoryCache:
    """Sums of finished days, keyed by (queues, number of days, today)."""

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._entries: dict[CacheKey, list[DayCount]] = {}
        self._lock = threading.Lock()

    def finished_days(self, inspector: Inspector, queues: Sequence[str], days: int,
                      today: date) -> list[DayCount]:
        """The `days - 1` days before `today`, oldest first."""
        key = (frozenset(queues), days, today)
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None:
            return cached
        dates = [(today - timedelta(days=offset)).isoformat() for offset in range(days - 1, 0, -1)]
        processed = dict.fromkeys(dates, 0)
        failed = dict.fromkeys(dates, 0)
        for queue in queues:
            for day in inspector.history(queue, days):
                if day.date in processed:
                    processed[day.date] += day.processed
                    failed[day.date] += day.failed
        result = [DayCount(d[5:], processed[d], failed[d]) for d in dates]
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = result
        return result

    def history(self, inspector: Inspector, stats: Sequence[QueueStats],
                days: int) -> list[DayCount]:
        """`days` days ending today, oldest first; today from `stats` (always fresh). One day
        is today's 24 UTC hours, from the per-minute counters."""
        if days == 1:
            return today_by_hour(inspector, [s.queue for s in stats], time.time())
        today = datetime.now(UTC).date()
        past = self.finished_days(inspector, [s.queue for s in stats], days, today) \
            if days > 1 else []
        current = DayCount(today.isoformat()[5:], sum(s.processed for s in stats),
                           sum(s.failed for s in stats))
        return [*past, current]


def today_by_hour(inspector: Inspector, queues: Sequence[str], now: float) -> list[DayCount]:
    """The 24 hours of the current UTC day (later hours empty) from the per-minute counters."""
    midnight = int(now) - int(now) % DAY
    hours = {b.start: b for b in regroup(per_minute(inspector, queues, midnight, int(now)),
                                         HOUR)}
    return [DayCount(f"{h:02d}:00", hours[start].processed, hours[start].failed)
            if (start := midnight + h * HOUR) in hours else DayCount(f"{h:02d}:00", 0, 0)
            for h in range(24)]


@dataclass(frozen=True)
class Buckets:
    """The chart's UTC-aligned buckets: `count` of `size` seconds from `first`; the one holding
    `now` is `current` (later ones are in the future and stay empty)."""

    first: int
    size: int
    count: int
    current: int
    label: str

    @classmethod
    def aligned(cls, days: int, now: float) -> Buckets:
        """Today: the 24 UTC hours of today. 7D/30D: UTC days, today the last one (the same
        days as the Redis counters and the cards)."""
        midnight = int(now) - int(now) % DAY
        if days == 1:
            return cls(midnight, HOUR, 24, (int(now) - midnight) // HOUR, "%H:00")
        return cls(midnight - (days - 1) * DAY, DAY, days, days - 1, "%m-%d")

    def start(self, index: int) -> int:
        return self.first + index * self.size


def prometheus_history(address: str, days: int,
                       now: float | None = None) -> tuple[list[DayCount], str | None]:
    """The same chart from Prometheus, in UTC-aligned buckets (see Buckets.aligned).

    Finished buckets come from one range query per counter (the growth over each bucket,
    evaluated at its end); the current bucket from an instant query of the growth since it
    began. Returns the buckets and None, or [] and the notice to show when Prometheus failed.
    """
    # On the scrape grid, so that refreshes within 15 s ask Prometheus the same question.
    now = float(int(time.time() if now is None else now) // MIN_STEP * MIN_STEP)
    buckets = Buckets.aligned(days, now)
    client = PrometheusClient(address)
    counts: dict[str, dict[int, float]] = {}
    try:
        for name, metric in COUNTERS:
            counts[name] = _finished(client, metric, buckets)
            since = int(now) - buckets.start(buckets.current)
            if since > 0:
                query = bucket_growth_query(f"{metric}{selector()}", f"{since}s")
                counts[name][buckets.current] = sum(
                    value or 0.0 for series in client.query(query, at=now)
                    for _, value in series.points)
    except PrometheusError as exc:
        return [], notice(exc)
    return [DayCount(datetime.fromtimestamp(buckets.start(i), UTC).strftime(buckets.label),
                     round(counts["processed"].get(i, 0.0)),
                     round(counts["failed"].get(i, 0.0)))
            for i in range(buckets.count)], None


def _finished(client: PrometheusClient, metric: str, buckets: Buckets) -> dict[int, float]:
    """Growth of `metric` in each finished bucket, by bucket index."""
    if buckets.current == 0:
        return {}
    # The point at t counts the bucket ending at t: the first ends one bucket after `first`.
    window = TimeRange(start=buckets.start(1), end=buckets.start(buckets.current),
                       step=buckets.size)
    query = bucket_growth_query(f"{metric}{selector()}", f"{buckets.size}s")
    return {round((ts - buckets.first) / buckets.size) - 1: value or 0.0
            for series in client.query_range(query, window) for ts, value in series.points}
