"""The `/metrics` queue and worker families, read at each scrape (queue stats from the
Inspector, the fleet through core.workers, as the API and the dashboard see it).

This module owns every runqy-specific metric name, type, label and help text. The seven
`asynq_*` families keep the names, types, labels and help texts of asynq's own exporter
(x/metrics) so that asynqmon's metrics view, existing alerts and community Grafana dashboards
keep working; `asynq_queue_size` is the one deliberate difference (http-api.md section 8):
it is broken down by `state` as well, so `asynq_queue_size{state="pending"}` works, and
`sum by (queue) (asynq_queue_size)` gives asynq's total.

Nothing is cached between scrapes: Prometheus decides how often Redis is read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from runqy.broker import BrokerError, QueueStats, WorkerRecord
from runqy.core import workers
from runqy.core.runtime import Runtime

logger = logging.getLogger(__name__)

# asynq's exporter reports these six states in asynq_tasks_enqueued_total, in this order.
ENQUEUED_STATES: tuple[str, ...] = (
    "active", "pending", "scheduled", "retry", "archived", "completed",
)
# asynq_queue_size adds aggregating, so that summing over state gives the queue's size.
SIZE_STATES: tuple[str, ...] = ENQUEUED_STATES + ("aggregating",)
WORKER_STATUSES: tuple[str, ...] = ("running", "bootstrapping", "stale", "unhealthy")


@dataclass(frozen=True)
class FamilySpec:
    """Name, type, help text and labels of one exported family."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()


BUILD_INFO = FamilySpec(
    "runqy_build_info", "gauge", "runqy server build information; always 1.", ("version",))
TASKS_ENQUEUED = FamilySpec(
    "asynq_tasks_enqueued_total", "gauge",
    "Number of tasks enqueued; broken down by queue and state.", ("queue", "state"))
QUEUE_SIZE = FamilySpec(
    "asynq_queue_size", "gauge",
    "Number of tasks in a queue; broken down by queue and state "
    "(sum by queue for the total).", ("queue", "state"))
QUEUE_LATENCY = FamilySpec(
    "asynq_queue_latency_seconds", "gauge",
    "Number of seconds the oldest pending task is waiting in pending state to be processed.",
    ("queue",))
QUEUE_MEMORY = FamilySpec(
    "asynq_queue_memory_usage_approx_bytes", "gauge",
    "Number of memory used by a given queue (approximated number by sampling).", ("queue",))
TASKS_PROCESSED = FamilySpec(
    "asynq_tasks_processed_total", "counter",
    "Number of tasks processed (both succeeded and failed); broken down by queue", ("queue",))
TASKS_FAILED = FamilySpec(
    "asynq_tasks_failed_total", "counter",
    "Number of tasks failed; broken down by queue", ("queue",))
QUEUE_PAUSED = FamilySpec(
    "asynq_queue_paused_total", "gauge", "Number of queues paused", ("queue",))
WORKERS = FamilySpec(
    "runqy_workers", "gauge",
    "Number of runqy workers known from heartbeats; broken down by status "
    "(running, bootstrapping, stale = no heartbeat for 30 s, unhealthy = not healthy "
    "otherwise: crashed, recovering, degraded or shutting down).", ("status",))
METRICS_ERRORS = FamilySpec(
    "runqy_metrics_errors_total", "counter",
    "Number of reads left out of /metrics scrapes because Redis failed: one per unreadable "
    "queue, one when no queue or no worker could be read.")

FAMILIES: tuple[FamilySpec, ...] = (
    TASKS_ENQUEUED, QUEUE_SIZE, QUEUE_LATENCY, QUEUE_MEMORY, TASKS_PROCESSED, TASKS_FAILED,
    QUEUE_PAUSED, WORKERS, BUILD_INFO, METRICS_ERRORS,
)


def worker_status(record: WorkerRecord) -> str:
    """The `runqy_workers` status a worker counts under; every worker counts exactly once."""
    if record.stale:
        return "stale"
    if record.status == "bootstrapping":
        return "bootstrapping"
    # Original Go workers write no status field; their healthy flag alone decides.
    if record.healthy and record.status in ("", "running"):
        return "running"
    return "unhealthy"


def _family(spec: FamilySpec) -> Metric:
    if spec.type == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)


class RunqyCollector(Collector):
    """Custom collector: one read of the queues and one of the fleet per scrape, turned into
    the families above."""

    def __init__(self, rt: Runtime, version: str) -> None:
        self._rt = rt
        self._version = version
        self._errors = 0
        self._errors_lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        # Lets the registry check for name clashes without reading Redis at registration.
        return [_family(spec) for spec in FAMILIES]

    def collect(self) -> Iterator[Metric]:
        queue_families = self._queue_families()
        worker_family = self._worker_family()
        build = _family(BUILD_INFO)
        build.add_metric([self._version], 1)
        errors = _family(METRICS_ERRORS)
        with self._errors_lock:
            errors.add_metric([], self._errors)
        yield from queue_families
        if worker_family is not None:
            yield worker_family
        yield build
        yield errors

    def _count_error(self) -> None:
        with self._errors_lock:
            self._errors += 1

    def _queue_families(self) -> list[Metric]:
        specs = (TASKS_ENQUEUED, QUEUE_SIZE, QUEUE_LATENCY, QUEUE_MEMORY, TASKS_PROCESSED,
                 TASKS_FAILED, QUEUE_PAUSED)
        enqueued, size, latency, memory, processed, failed, paused = (
            _family(spec) for spec in specs)
        try:
            items = self._rt.inspector.all_queue_stats()
        except (RedisError, BrokerError) as exc:
            logger.warning("metrics: queue stats unavailable for this scrape: %s", exc)
            self._count_error()
            items = []
        for stats in items:
            # all_queue_stats() puts a BrokerError in place of a queue it could not read.
            if not isinstance(stats, QueueStats):
                logger.warning("metrics: a queue was left out of this scrape: %s", stats)
                self._count_error()
                continue
            queue = stats.queue
            for state in SIZE_STATES:
                count = getattr(stats, state)
                size.add_metric([queue, state], count)
                if state in ENQUEUED_STATES:
                    enqueued.add_metric([queue, state], count)
            latency.add_metric([queue], stats.latency_seconds)
            # Unknown when the Redis server refuses MEMORY USAGE: leave the sample out
            # rather than report a misleading 0.
            if stats.memory_bytes is not None:
                memory.add_metric([queue], stats.memory_bytes)
            processed.add_metric([queue], stats.processed_total)
            failed.add_metric([queue], stats.failed_total)
            paused.add_metric([queue], 1 if stats.paused else 0)
        return [enqueued, size, latency, memory, processed, failed, paused]

    def _worker_family(self) -> Metric | None:
        try:
            records = workers.fleet(self._rt).workers
        except (RedisError, BrokerError) as exc:
            logger.warning("metrics: worker heartbeats unavailable for this scrape: %s", exc)
            self._count_error()
            return None
        counts = dict.fromkeys(WORKER_STATUSES, 0)
        for record in records:
            counts[worker_status(record)] += 1
        family = _family(WORKERS)
        # Every status is always exported, so `runqy_workers{status="stale"} > 0` has a
        # series to compare even while the count is 0.
        for status, count in counts.items():
            family.add_metric([status], count)
        return family
