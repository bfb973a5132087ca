"""The Prometheus client when Prometheus is missing, slow or not Prometheus: a clear notice,
never an exception out of the dashboard's data functions."""

from __future__ import annotations

import socket
import time

import pytest

from runqy.metrics.prometheus_api import (
    RANGES,
    PrometheusClient,
    PrometheusUnavailable,
    client_for,
    load_charts,
    load_task_history,
    queue_depth_query,
    selector,
    time_range,
)
from tests.support.redis_server import free_port


def test_unreachable_prometheus_gives_a_notice_and_empty_charts():
    client = PrometheusClient(f"http://127.0.0.1:{free_port()}")
    charts = load_charts(client, "6h")
    assert "could not be reached" in charts.notice
    assert "Charts need Prometheus" in charts.notice
    assert charts.processed == charts.failed == charts.error_rate == []
    assert charts.queue_depth == charts.latency == []
    history = load_task_history(client, 1)
    assert "could not be reached" in history.notice and history.buckets == []


def test_notice_never_shows_credentials():
    port = free_port()
    notice = load_charts(PrometheusClient(f"http://admin:hunter2@127.0.0.1:{port}/prom")).notice
    assert "hunter2" not in notice and "admin" not in notice
    assert f"http://127.0.0.1:{port}/prom" in notice


def test_a_server_that_is_not_prometheus(redis_server):
    # Redis answers in RESP, not HTTP.
    client = PrometheusClient(f"http://127.0.0.1:{redis_server.port}")
    with pytest.raises(PrometheusUnavailable, match="could not be reached"):
        client.query("up")


def test_a_silent_server_times_out_quickly():
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        client = PrometheusClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)
        started = time.monotonic()
        charts = load_charts(client, "1h")
        elapsed = time.monotonic() - started
    assert charts.notice is not None
    assert elapsed < 3, "one outage must not cost one timeout per chart"


def test_address_must_be_http():
    with pytest.raises(ValueError, match="http"):
        PrometheusClient("prometheus:9090")


def test_no_address_means_no_client():
    assert client_for(None) is None and client_for("") is None
    client = client_for("http://prometheus:9090/", timeout=1.5)
    assert (client.address, client.timeout) == ("http://prometheus:9090", 1.5)


def test_ranges_and_steps():
    rng = time_range("24h", now=1_800_000_123)
    assert rng.end - rng.start == RANGES["24h"]
    assert rng.end == 1_800_000_120  # on the 15 s scrape grid
    assert (rng.end - rng.start) / rng.step == 120
    assert time_range("1h", now=1_800_000_000).step == 30
    assert time_range("7d", points=7).step == 86400
    assert time_range("1h", points=10_000).step == 15
    with pytest.raises(ValueError, match="unknown range"):
        time_range("2y")


def test_queue_names_are_escaped_in_promql():
    assert selector('we"ird\\q', state="pending") == '{queue="we\\"ird\\\\q",state="pending"}'
    assert selector() == ""
    assert queue_depth_query("a.b") == \
        'max by (queue) (asynq_queue_size{queue="a.b",state="pending"})'
