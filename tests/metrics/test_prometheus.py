"""A real Prometheus scrapes a real `runqy serve` every second; the documented PromQL answers.

The queries are the ones deploy/README.md gives (processed/s, failed/s, error rate, queue depth,
latency), sent through Prometheus's HTTP API, plus the dashboard's data functions of
runqy.metrics.prometheus_api against the same Prometheus.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runqy.broker import Broker
from runqy.metrics.prometheus_api import (
    PrometheusClient,
    PrometheusQueryError,
    load_charts,
    load_task_history,
)
from tests.metrics.dataset import fill_queue
from tests.support.health import answers_health
from tests.support.polling import poll_until
from tests.support.prometheus import PrometheusServer, prometheus_binary
from tests.support.redis_server import free_port, stop_process

pytestmark = pytest.mark.skipif(prometheus_binary() is None,
                                reason="prometheus not installed (Debian package prometheus)")

QUEUE = "e2e.default"
TOKEN = "e2e-metrics-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runqy_server(redis_server, tmp_path_factory):
    """`runqy serve` as a child process on a free loopback port, /metrics behind a token."""
    redis_server.client().flushall()
    port = free_port()
    env = {**os.environ, "RUNQY_API_KEY": "e2e-admin-key-0123456789abcdef",
           "RUNQY_METRICS_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    log = (tmp_path_factory.mktemp("runqy") / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from runqy.cli import main; main()", "serve",
         "--host", "127.0.0.1", "--port", str(port), "--redis-url", redis_server.url,
         "--instance-path", str(tmp_path_factory.mktemp("instance")), "--no-ui"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )

    try:
        poll_until(lambda: answers_health(port), timeout=60,
                   what="runqy serve to answer /health", alive=process)
        yield port
    finally:
        stop_process(process, timeout=15)
        log.close()


@pytest.fixture(scope="module")
def prometheus(runqy_server):
    server = PrometheusServer([f"127.0.0.1:{runqy_server}"], bearer_token=TOKEN).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def processed_tasks(prometheus, redis_server):
    """5 tasks enqueued, 4 attempts finished (1 failed), 1 left pending, once Prometheus has
    seen the counters at 0, so that rate() has a before and an after."""
    client = redis_server.client()
    broker = Broker(client)
    fill_queue(broker, QUEUE, pending=5)
    prometheus.wait_for_query(f'asynq_tasks_processed_total{{queue="{QUEUE}"}}',
                              lambda r: len(r) == 1 and r[0]["value"][1] == "0")
    prometheus.wait_for_query(f'count_over_time(asynq_tasks_processed_total{{queue="{QUEUE}"}}[1m])',
                              lambda r: r and float(r[0]["value"][1]) >= 2)
    for outcome in ("done", "done", "done", "retry"):
        taken = broker.dequeue([QUEUE])
        assert taken is not None
        if outcome == "done":
            broker.done(taken.msg)
        else:
            broker.retry(taken.msg, "boom", int(time.time()) + 3600)
    prometheus.wait_for_query(f'asynq_tasks_processed_total{{queue="{QUEUE}"}}',
                              lambda r: r and r[0]["value"][1] == "4")
    return {"processed": 4, "failed": 1, "pending": 1}


def only_queue(result: list[dict]) -> float:
    """The value of the e2e queue's series (the query may also return other queues)."""
    values = [float(item["value"][1]) for item in result if item["metric"].get("queue") == QUEUE]
    assert len(values) == 1, result
    return values[0]


def test_prometheus_scrapes_runqy_with_the_token(prometheus, runqy_server):
    prometheus.wait_for_query('up{job="runqy"}', lambda r: r and r[0]["value"][1] == "1")
    (target,) = prometheus.targets()
    assert target["scrapeUrl"] == f"http://127.0.0.1:{runqy_server}/metrics"
    assert target["health"] == "up", target["lastError"]
    # The same series the collector exports, as Prometheus stored them.
    build = prometheus.query("runqy_build_info")
    assert build[0]["metric"]["version"] and build[0]["value"][1] == "1"
    workers = prometheus.query("runqy_workers")
    assert {item["metric"]["status"] for item in workers} == {
        "running", "bootstrapping", "stale", "unhealthy"}


def test_asynq_names_that_asynqmon_queries(prometheus, processed_tasks):
    # asynqmon's metrics view asks for these exact selectors; the gauges named *_total must
    # survive Prometheus's parser (it negotiates OpenMetrics with the server).
    pending = prometheus.wait_for_query('asynq_tasks_enqueued_total{state="pending"}',
                                        lambda r: r and only_queue(r) == 1)
    assert only_queue(pending) == processed_tasks["pending"]
    retry = prometheus.query('asynq_tasks_enqueued_total{state="retry"}')
    assert only_queue(retry) == 1
    assert only_queue(prometheus.query("asynq_queue_paused_total")) == 0
    assert only_queue(prometheus.query("asynq_queue_memory_usage_approx_bytes")) > 0


def test_guide_processed_and_failed_per_second(prometheus, processed_tasks):
    processed = prometheus.wait_for_query(
        "rate(asynq_tasks_processed_total[5m])", lambda r: r and only_queue(r) > 0)
    failed = prometheus.wait_for_query(
        "rate(asynq_tasks_failed_total[5m])", lambda r: r and only_queue(r) > 0)
    # Both counters are scraped together, so their rates are in the ratio of the counts.
    assert only_queue(failed) / only_queue(processed) == pytest.approx(
        processed_tasks["failed"] / processed_tasks["processed"], rel=0.05)


def test_guide_error_rate(prometheus, processed_tasks):
    result = prometheus.wait_for_query(
        "rate(asynq_tasks_failed_total[5m]) / rate(asynq_tasks_processed_total[5m])",
        lambda r: any(item["metric"].get("queue") == QUEUE for item in r))
    assert only_queue(result) == pytest.approx(0.25, rel=0.05)


def test_guide_queue_depth_and_latency(prometheus, processed_tasks):
    depth = prometheus.wait_for_query('asynq_queue_size{state="pending"}',
                                      lambda r: r and only_queue(r) == 1)
    assert only_queue(depth) == processed_tasks["pending"]
    assert {item["metric"]["state"] for item in depth} == {"pending"}
    latency = prometheus.query("asynq_queue_latency_seconds")
    assert 0 < only_queue(latency) < 120
    total = prometheus.query(f'sum by (queue) (asynq_queue_size{{queue="{QUEUE}"}})')
    assert only_queue(total) == 2  # the pending task and the one waiting to be retried


def test_dashboard_charts_from_prometheus(prometheus, processed_tasks):
    client = PrometheusClient(prometheus.url)

    def charts_ready() -> bool:
        charts = load_charts(client, "1h", QUEUE)
        return any(v for s in charts.processed for _, v in s.points)

    poll_until(charts_ready, timeout=30, what="a processed rate in the 1h chart")
    charts = load_charts(client, "1h", QUEUE)
    assert charts.notice is None
    for name in ("processed", "failed", "error_rate", "queue_depth", "latency"):
        series = getattr(charts, name)
        assert [s.labels["queue"] for s in series] == [QUEUE], name
    assert charts.queue_depth[0].points[-1][1] == processed_tasks["pending"]
    last_error_rate = [v for _, v in charts.error_rate[0].points if v is not None][-1]
    assert last_error_rate == pytest.approx(0.25, rel=0.05)


def test_dashboard_history_from_prometheus(prometheus, processed_tasks):
    client = PrometheusClient(prometheus.url)

    def settled():
        # The history ends on the scrape grid: the newest samples enter it a step later.
        hours = load_task_history(client, 1, QUEUE)
        days = load_task_history(client, 7, QUEUE)
        done = (sum(b.processed for b in hours.buckets) == 4
                and days.buckets and days.buckets[-1].processed == 4)
        return done and (hours, days)

    hours, days = poll_until(settled, timeout=45, what="the 4 attempts in the history")
    assert hours.notice is None and days.notice is None
    now = time.time()
    # Today's 24 UTC hours, the tasks in the current one; 7 UTC days, today the last.
    midnight = int(now) - int(now) % 86400
    assert [b.start for b in hours.buckets] == [midnight + h * 3600 for h in range(24)]
    assert hours.buckets[time.gmtime(now).tm_hour].processed == processed_tasks["processed"]
    assert [b.start for b in days.buckets] == [midnight - d * 86400 for d in range(6, -1, -1)]
    # The buckets split the growth of the totals exactly: nothing lost, nothing extrapolated.
    assert sum(b.processed for b in days.buckets) == processed_tasks["processed"]
    assert sum(b.failed for b in days.buckets) == processed_tasks["failed"]


def test_bad_promql_is_a_query_error(prometheus):
    with pytest.raises(PrometheusQueryError, match="parse error"):
        PrometheusClient(prometheus.url).query("rate(asynq_tasks_processed_total[5m]")
