"""Time series for the dashboard from a Prometheus server (PROMETHEUS_ADDRESS).

Two layers:

- `PrometheusClient`: a small client of the Prometheus HTTP API (`/api/v1/query`,
  `/api/v1/query_range`) with a short timeout. It raises `PrometheusUnavailable` when the server
  cannot be reached or answers badly, and `PrometheusQueryError` when it rejects the PromQL.
- Data functions for the pages, which never raise for an unreachable Prometheus: they return
  their data with `notice` set to a message for the operator, so the page still renders.
  `load_charts()` feeds the Metrics view (processed/s, failed/s, error rate, queue depth,
  latency); `load_task_history()` feeds the overview history chart (tasks per UTC hour or day).

The PromQL is the one documented in deploy/README.md. Per-queue series use `max by (queue)`:
several runqy servers sharing one Redis all export the same numbers, and summing them would
count each task once per server.
"""

from __future__ import annotations

import http.client
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 2.0

# Range name -> seconds; the dashboard offers these choices, the first is the default.
RANGES: dict[str, int] = {
    "1h": 3600,
    "6h": 6 * 3600,
    "24h": 86400,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
}
DEFAULT_RANGE = "1h"
# About this many points per chart, whatever the range; never finer than a usual scrape.
POINTS_PER_CHART = 120
MIN_STEP = 15
# rate() needs several scrapes in its window; 5m matches the documented PromQL.
MIN_RATE_WINDOW = 300


class PrometheusError(Exception):
    """Base of the errors of this module."""


class PrometheusUnavailable(PrometheusError):
    """Prometheus could not be reached, timed out, or gave an answer that is not the API's."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query (a bug in the PromQL, not an outage)."""


@dataclass(frozen=True)
class TimeRange:
    """A query_range window: unix seconds, step in seconds."""

    start: float
    end: float
    step: int


@dataclass(frozen=True)
class Series:
    """One time series: its labels and (unix seconds, value) points.

    A value is None where Prometheus returned NaN or an infinity (for example an error rate
    of a queue with no traffic, 0/0), so charts draw a gap there.
    """

    labels: Mapping[str, str]
    points: tuple[tuple[float, float | None], ...]


@dataclass(frozen=True)
class MetricsCharts:
    """Everything the Metrics view draws for one range, one list of series per chart.

    Series of the per-queue charts carry a `queue` label. `notice` is None when every query
    worked; otherwise it is a message to show, and the charts that failed are empty.
    """

    range: TimeRange
    processed: list[Series] = field(default_factory=list)     # tasks/s, per queue
    failed: list[Series] = field(default_factory=list)        # tasks/s, per queue
    error_rate: list[Series] = field(default_factory=list)    # failed / processed, 0..1
    queue_depth: list[Series] = field(default_factory=list)   # pending tasks, per queue
    latency: list[Series] = field(default_factory=list)       # seconds, per queue
    notice: str | None = None


@dataclass(frozen=True)
class HistoryBucket:
    """Tasks finished in [start, start + step): processed includes failed, as in asynq."""

    start: float
    processed: int
    failed: int


@dataclass(frozen=True)
class TaskHistory:
    """The overview history chart: one bucket per UTC hour or day, oldest first."""

    range: TimeRange
    buckets: list[HistoryBucket] = field(default_factory=list)
    notice: str | None = None


def time_range(name: str = DEFAULT_RANGE, *, now: float | None = None,
               points: int = POINTS_PER_CHART) -> TimeRange:
    """The window ending now for a range name of RANGES, cut into about `points` steps.

    ValueError for an unknown name. `points=7` with "7d" gives one step per rolling day.
    """
    try:
        seconds = RANGES[name]
    except KeyError:
        raise ValueError(f"unknown range {name!r}; expected one of {', '.join(RANGES)}") from None
    if points < 1:
        raise ValueError("points must be at least 1")
    step = max(MIN_STEP, seconds // points)
    # On the scrape grid, so that refreshes within 15 s ask Prometheus the same question.
    end = math.floor(time.time() if now is None else now)
    end -= end % MIN_STEP
    return TimeRange(start=end - seconds, end=end, step=step)


def promql_string(value: str) -> str:
    """`value` as a PromQL double-quoted string literal."""
    return json.dumps(value)


def selector(queue: str | None = None, **matchers: str) -> str:
    """A label matcher block such as `{queue="a.b",state="pending"}` (empty when no matcher)."""
    pairs = dict(matchers)
    if queue is not None:
        pairs = {"queue": queue, **pairs}
    if not pairs:
        return ""
    return "{" + ",".join(f"{key}={promql_string(val)}" for key, val in pairs.items()) + "}"


def processed_rate_query(queue: str | None = None, window: str = "5m") -> str:
    """Tasks processed (succeeded and failed) per second, per queue."""
    return f"max by (queue) (rate(asynq_tasks_processed_total{selector(queue)}[{window}]))"


def failed_rate_query(queue: str | None = None, window: str = "5m") -> str:
    """Tasks failed per second, per queue."""
    return f"max by (queue) (rate(asynq_tasks_failed_total{selector(queue)}[{window}]))"


def error_rate_query(queue: str | None = None, window: str = "5m") -> str:
    """Failed share of the attempts, per queue (NaN for a queue with no traffic)."""
    return f"{failed_rate_query(queue, window)} / {processed_rate_query(queue, window)}"


def queue_depth_query(queue: str | None = None) -> str:
    """Pending tasks, per queue."""
    return f"max by (queue) (asynq_queue_size{selector(queue, state='pending')})"


def latency_query(queue: str | None = None) -> str:
    """Seconds the oldest pending task has waited, per queue."""
    return f"max by (queue) (asynq_queue_latency_seconds{selector(queue)})"


def _redact(address: str) -> str:
    """The address without user info, for messages shown to operators."""
    parts = urllib.parse.urlsplit(address)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _number(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


class PrometheusClient:
    """Queries one Prometheus server over its HTTP API."""

    def __init__(self, address: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"PROMETHEUS_ADDRESS must be an http(s) URL, got {address!r}")
        self.address = address.rstrip("/")
        self.timeout = timeout

    @property
    def display_address(self) -> str:
        return _redact(self.address)

    def query(self, promql: str, *, at: float | None = None) -> list[Series]:
        """An instant query; each series has one point."""
        params = {"query": promql}
        if at is not None:
            params["time"] = str(at)
        data = self._call("/api/v1/query", params)
        if data.get("resultType") != "vector":
            raise PrometheusQueryError(f"expected an instant vector, got {data.get('resultType')}")
        return [
            Series(labels=item["metric"], points=((float(item["value"][0]),
                                                   _number(item["value"][1])),))
            for item in data["result"]
        ]

    def query_range(self, promql: str, rng: TimeRange) -> list[Series]:
        """A range query over `rng`."""
        data = self._call("/api/v1/query_range", {
            "query": promql, "start": str(rng.start), "end": str(rng.end), "step": str(rng.step),
        })
        return [
            Series(labels=item["metric"],
                   points=tuple((float(ts), _number(val)) for ts, val in item["values"]))
            for item in data["result"]
        ]

    def _call(self, path: str, params: Mapping[str, str]) -> dict:
        # POST keeps long queries out of URLs and access logs; the API accepts both.
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.address + path, data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        where = self.display_address
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            payload = self._error_payload(exc)
            if exc.code in (400, 422) and payload is not None:
                raise PrometheusQueryError(
                    f"Prometheus rejected the query: {payload.get('error', exc.reason)}"
                ) from None
            raise PrometheusUnavailable(
                f"Prometheus at {where} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.__class__.__name__
            raise PrometheusUnavailable(
                f"Prometheus at {where} could not be reached: {reason}") from None
        except ValueError:
            raise PrometheusUnavailable(
                f"Prometheus at {where} did not answer with JSON") from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            raise PrometheusUnavailable(f"Prometheus at {where} gave an unexpected answer")
        return payload["data"]

    @staticmethod
    def _error_payload(exc: urllib.error.HTTPError) -> dict | None:
        try:
            payload = json.load(exc)
        except (ValueError, OSError):
            return None
        return payload if isinstance(payload, dict) else None


def client_for(address: str | None, *,
               timeout: float = DEFAULT_TIMEOUT) -> PrometheusClient | None:
    """The client for PROMETHEUS_ADDRESS, or None when it is unset (charts use Redis then)."""
    return PrometheusClient(address, timeout=timeout) if address else None


def _rate_window(rng: TimeRange) -> str:
    return f"{max(rng.step, MIN_RATE_WINDOW)}s"


def load_charts(client: PrometheusClient, range_name: str = DEFAULT_RANGE,
                queue: str | None = None, *, now: float | None = None) -> MetricsCharts:
    """The Metrics view's series for a range (RANGES key), optionally for one queue.

    Never raises PrometheusError: when Prometheus is down, the result has empty charts and a
    `notice` saying so. ValueError for an unknown range name.
    """
    rng = time_range(range_name, now=now)
    window = _rate_window(rng)
    queries = {
        "processed": processed_rate_query(queue, window),
        "failed": failed_rate_query(queue, window),
        "error_rate": error_rate_query(queue, window),
        "queue_depth": queue_depth_query(queue),
        "latency": latency_query(queue),
    }
    results: dict[str, list[Series]] = {}
    for name, promql in queries.items():
        try:
            results[name] = client.query_range(promql, rng)
        except PrometheusUnavailable as exc:
            # One outage fails every query alike; do not wait for five timeouts.
            return MetricsCharts(range=rng, notice=_notice(exc))
        except PrometheusQueryError as exc:
            return MetricsCharts(range=rng, notice=_notice(exc), **results)
    return MetricsCharts(range=rng, **results)


def bucket_growth_query(series: str, window: str) -> str:
    """How much a runqy total grew in each step, exactly, summed over queues.

    The totals live in Redis, so they survive server restarts and need none of increase()'s
    extrapolation, which overcounts a few events (4 became 5). The growth is the value at t minus
    the last value at or before t - window; a series that started inside the window counts from
    its first sample. Servers scraped together export the same totals: max by queue dedupes
    them. A queue deleted and recreated restarts its totals: that step counts 0, not negative.
    """
    step_growth = f"{series} - {series} offset {window}"
    since_first = f"{series} - min_over_time({series}[{window}])"
    return f"sum(clamp_min(max by (queue) (({step_growth}) or ({since_first})), 0))"


HOUR, DAY = 3600, 86400
COUNTERS = (("processed", "asynq_tasks_processed_total"), ("failed", "asynq_tasks_failed_total"))


@dataclass(frozen=True)
class UtcBuckets:
    """UTC-aligned buckets: `count` of `size` seconds from `first`; the one holding now is
    `current` (later ones are in the future and stay empty)."""

    first: int
    size: int
    count: int
    current: int

    @classmethod
    def of(cls, days: int, now: float) -> UtcBuckets:
        """One day: the 24 UTC hours of today. More: UTC days, today the last one (the days
        of the Redis daily counters and of the dashboard's cards)."""
        midnight = int(now) - int(now) % DAY
        if days == 1:
            return cls(midnight, HOUR, 24, (int(now) - midnight) // HOUR)
        return cls(midnight - (days - 1) * DAY, DAY, days, days - 1)

    def start(self, index: int) -> int:
        return self.first + index * self.size


def load_task_history(client: PrometheusClient, days: int, queue: str | None = None, *,
                      now: float | None = None) -> TaskHistory:
    """Tasks processed and failed per UTC hour of today (`days` = 1) or per UTC day of the
    last `days` days, oldest first, every bucket present (future hours empty).

    Finished buckets come from one range query per counter (the growth over each bucket,
    evaluated at its end); the current bucket from an instant query of the growth since it
    began, so its total matches "today" on the cards. All queues, or one. Never raises
    PrometheusError (see load_charts).
    """
    # On the scrape grid, so that refreshes within 15 s ask Prometheus the same question.
    now = float(int(time.time() if now is None else now) // MIN_STEP * MIN_STEP)
    buckets = UtcBuckets.of(days, now)
    rng = TimeRange(start=buckets.first, end=now, step=buckets.size)
    counts: dict[str, dict[int, float]] = {}
    try:
        for name, metric in COUNTERS:
            series = f"{metric}{selector(queue)}"
            counts[name] = _finished_buckets(client, series, buckets)
            since = int(now) - buckets.start(buckets.current)
            if since > 0:
                counts[name][buckets.current] = sum(
                    value or 0.0
                    for found in client.query(bucket_growth_query(series, f"{since}s"), at=now)
                    for _, value in found.points)
    except PrometheusError as exc:
        return TaskHistory(range=rng, notice=_notice(exc))
    return TaskHistory(range=rng, buckets=[
        HistoryBucket(start=buckets.start(i), processed=round(counts["processed"].get(i, 0.0)),
                      failed=round(counts["failed"].get(i, 0.0)))
        for i in range(buckets.count)
    ])


def _finished_buckets(client: PrometheusClient, series: str,
                      buckets: UtcBuckets) -> dict[int, float]:
    """Growth of `series` in each finished bucket, by bucket index."""
    if buckets.current == 0:
        return {}
    # The point at t counts the bucket ending at t: the first ends one bucket after `first`.
    points = TimeRange(start=buckets.start(1), end=buckets.start(buckets.current),
                       step=buckets.size)
    query = bucket_growth_query(series, f"{buckets.size}s")
    return {round((ts - buckets.first) / buckets.size) - 1: value or 0.0
            for found in client.query_range(query, points) for ts, value in found.points}


def _notice(exc: PrometheusError) -> str:
    """What the page shows in place of charts that could not be loaded."""
    if isinstance(exc, PrometheusUnavailable):
        return f"{exc}. Charts need Prometheus; everything else on this page is live from Redis."
    return str(exc)
