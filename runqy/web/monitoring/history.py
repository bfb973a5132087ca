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
from datetime import UTC, date, datetime, timedelta

from runqy.broker import Inspector, QueueStats
from runqy.broker.throughput import per_minute, regroup
from runqy.metrics.prometheus_api import DAY, HOUR, PrometheusClient, load_task_history
from runqy.web.monitoring.charts import DayCount

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


def prometheus_history(address: str, days: int) -> tuple[list[DayCount], str | None]:
    """The same chart from Prometheus, on the same UTC hours or days (load_task_history).

    Returns the buckets and None, or [] and the notice to show when Prometheus failed.
    """
    result = load_task_history(PrometheusClient(address), days)
    if result.notice is not None:
        return [], result.notice
    label = "%H:00" if days == 1 else "%m-%d"
    return [DayCount(datetime.fromtimestamp(b.start, UTC).strftime(label), b.processed,
                     b.failed) for b in result.buckets], None
